namespace TrainWithBatchNorm;

/// <summary>Mean softmax cross-entropy over a batch of logits, and its gradient (softmax - onehot) / batch.</summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>Mean cross-entropy of rows [offset, offset + batch), its gradient with respect to the logits and the number of
    /// correct predictions.</summary>
    /// <param name="logits">(batch, classes) logits, row-major.</param>
    /// <param name="labels">Every point's class.</param>
    /// <param name="offset">The first row's index in <paramref name="labels"/>.</param>
    /// <param name="batch">The number of rows.</param>
    /// <param name="classes">The number of classes.</param>
    public static (double Loss, float[] Gradient, int Correct) Evaluate(float[] logits, int[] labels, int offset, int batch, int classes)
    {
        var gradient = new float[logits.Length];
        double loss = 0;
        int correct = 0;
        for (int n = 0; n < batch; n++)
        {
            ReadOnlySpan<float> row = logits.AsSpan(n * classes, classes);
            float max = float.NegativeInfinity;
            int argmax = 0;
            for (int k = 0; k < classes; k++) if (row[k] > max) { max = row[k]; argmax = k; }
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += Math.Exp(row[k] - max);
            int label = labels[offset + n];
            loss += -(row[label] - max - Math.Log(sum));
            for (int k = 0; k < classes; k++)
                gradient[n * classes + k] = (float)((Math.Exp(row[k] - max) / sum - (k == label ? 1 : 0)) / batch);
            if (argmax == label) correct++;
        }

        return (loss / batch, gradient, correct);
    }
}
