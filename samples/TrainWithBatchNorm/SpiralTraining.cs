using System.Globalization;

namespace TrainWithBatchNorm;

/// <summary>Trains <see cref="Network"/> on three spirals and reports what BatchNorm's modes do to its accuracy.</summary>
public static class SpiralTraining
{
    public sealed record Options(int Epochs = 30, int BatchSize = 32, int Hidden = 64, float LearningRate = 0.05f, float Momentum = 0.9f, int Seed = 7);

    public sealed record EpochResult(int Epoch, double Loss, double TrainAccuracy, double EvalAccuracy);

    /// <summary>Test accuracy for one evaluation batch size, three ways (null where the forward throws).</summary>
    public sealed record ModeComparison(int BatchSize, double? RunningStatistics, double? RunningWithTrackingOff, double? BatchStatistics, string? BatchError);

    public sealed record Report(IReadOnlyList<EpochResult> Epochs, IReadOnlyList<ModeComparison> Comparisons, Network Network);

    public static Report Run(Options options, TextWriter log)
    {
        var (trainX, trainY) = Spirals.Generate(400, 0.15, options.Seed);
        var (testX, testY) = Spirals.Generate(200, 0.15, options.Seed + 1);
        var network = new Network(options.Hidden, options.Seed);
        var random = new Random(options.Seed);
        int count = trainY.Length;
        var epochs = new List<EpochResult>();
        log.WriteLine($"Training on {count} points (3 spirals), {options.Epochs} epochs, batch {options.BatchSize}:");
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            int[] order = Enumerable.Range(0, count).OrderBy(_ => random.Next()).ToArray();
            double loss = 0;
            int correct = 0, batches = 0;
            network.Train();
            for (int start = 0; start + options.BatchSize <= count; start += options.BatchSize)
            {
                var (x, y) = Gather(trainX, trainY, order, start, options.BatchSize);
                float[] logits = network.Forward(x, options.BatchSize);
                var (batchLoss, gradient, batchCorrect) = SoftmaxCrossEntropy.Evaluate(logits, y, 0, options.BatchSize, Spirals.Classes);
                network.Backward(gradient, options.BatchSize);
                network.Step(options.LearningRate, options.Momentum);
                loss += batchLoss;
                correct += batchCorrect;
                batches++;
            }

            network.Train(false);
            double evalAccuracy = Accuracy(network, testX, testY, testY.Length, Enumerable.Range(0, testY.Length).ToArray());
            var result = new EpochResult(epoch, loss / batches, (double)correct / (batches * options.BatchSize), evalAccuracy);
            epochs.Add(result);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch,3}  loss {result.Loss:F4}  train accuracy {result.TrainAccuracy:P1}  eval accuracy {result.EvalAccuracy:P1}"));
        }

        // Mixed batches: the test set is stored class by class, and batch statistics of a one-class batch say little.
        int[] shuffled = Enumerable.Range(0, testY.Length).OrderBy(_ => random.Next()).ToArray();
        var comparisons = new List<ModeComparison>();
        log.WriteLine();
        log.WriteLine("Test accuracy by evaluation batch size (the seed's point, on a trained network):");
        log.WriteLine("  batch | Eval(): running stats | Eval() + TrackRunningStats=false | Train() + TrackRunningStats=false: batch stats");
        foreach (int batch in new[] { 1, 2, 8, 64, testY.Length })
        {
            double? running = Evaluate(network, testX, testY, shuffled, batch, training: false, track: true, out _);
            double? trackingOff = Evaluate(network, testX, testY, shuffled, batch, training: false, track: false, out _);
            double? batchStats = Evaluate(network, testX, testY, shuffled, batch, training: true, track: false, out string? error);
            comparisons.Add(new ModeComparison(batch, running, trackingOff, batchStats, error));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {batch,5} | {Format(running),21} | {Format(trackingOff),32} | {(batchStats is null ? "error: " + error : Format(batchStats))}"));
        }

        log.WriteLine("Eval() with TrackRunningStats=false still normalizes with the running statistics (the buffers exist),");
        log.WriteLine("so it matches the first column exactly. Batch statistics depend on who else is in the batch, and a batch");
        log.WriteLine("of one is an error.");
        return new Report(epochs, comparisons, network);
    }

    private static string Format(double? accuracy) => accuracy is double a ? a.ToString("P1", CultureInfo.InvariantCulture) : "-";

    private static double? Evaluate(Network network, float[] x, int[] y, int[] order, int batch, bool training, bool track, out string? error)
    {
        error = null;
        var saved = network.Norms.Select(n => (n.Training, n.TrackRunningStats)).ToArray();
        try
        {
            foreach (var norm in network.Norms) { norm.Train(training); norm.TrackRunningStats = track; }
            return Accuracy(network, x, y, batch, order);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return null;
        }
        finally
        {
            int i = 0;
            foreach (var norm in network.Norms) { norm.Train(saved[i].Training); norm.TrackRunningStats = saved[i++].TrackRunningStats; }
        }
    }

    /// <summary>The share of points classified right, forwarding them in batches of <paramref name="batch"/> in the given order.</summary>
    public static double Accuracy(Network network, float[] x, int[] y, int batch, int[] order)
    {
        int correct = 0, seen = 0;
        for (int start = 0; start + batch <= y.Length; start += batch)
        {
            var (xs, ys) = Gather(x, y, order, start, batch);
            correct += SoftmaxCrossEntropy.Evaluate(network.Forward(xs, batch), ys, 0, batch, Spirals.Classes).Correct;
            seen += batch;
        }

        return (double)correct / seen;
    }

    public static (float[] X, int[] Y) Gather(float[] x, int[] y, int[] order, int start, int batch)
    {
        var xs = new float[batch * 2];
        var ys = new int[batch];
        for (int i = 0; i < batch; i++)
        {
            int k = order[start + i];
            xs[2 * i] = x[2 * k];
            xs[2 * i + 1] = x[2 * k + 1];
            ys[i] = y[k];
        }

        return (xs, ys);
    }
}
