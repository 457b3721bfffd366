namespace TrainWithBatchNorm;

/// <summary>A dense layer y = x·Wᵀ + b over (batch, in) rows, with its backward and an SGD-with-momentum step.</summary>
public sealed class Linear
{
    private readonly float[] weight, bias, weightGrad, biasGrad, weightVelocity, biasVelocity;
    private float[] lastInput = [];
    private int lastBatch;

    /// <summary>A layer of <paramref name="inputs"/> to <paramref name="outputs"/> features, weights drawn from <paramref name="random"/>.</summary>
    /// <param name="inputs">Input features.</param>
    /// <param name="outputs">Output features.</param>
    /// <param name="random">The source of the initial weights.</param>
    public Linear(int inputs, int outputs, Random random)
    {
        Inputs = inputs;
        Outputs = outputs;
        weight = new float[outputs * inputs];
        bias = new float[outputs];
        weightGrad = new float[weight.Length];
        biasGrad = new float[outputs];
        weightVelocity = new float[weight.Length];
        biasVelocity = new float[outputs];
        double scale = Math.Sqrt(2.0 / inputs); // He initialization for ReLU networks
        for (int i = 0; i < weight.Length; i++)
            weight[i] = (float)(scale * Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble()));
    }

    /// <summary>Input features.</summary>
    public int Inputs { get; }

    /// <summary>Output features.</summary>
    public int Outputs { get; }

    /// <summary>y = x·Wᵀ + b for <paramref name="batch"/> rows of <paramref name="x"/>; keeps x for the backward.</summary>
    /// <param name="x">(batch, inputs) values, row-major.</param>
    /// <param name="batch">The number of rows.</param>
    public float[] Forward(float[] x, int batch)
    {
        lastInput = x;
        lastBatch = batch;
        var y = new float[batch * Outputs];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < Outputs; o++)
            {
                float sum = bias[o];
                for (int i = 0; i < Inputs; i++) sum += x[n * Inputs + i] * weight[o * Inputs + i];
                y[n * Outputs + o] = sum;
            }

        return y;
    }

    /// <summary>dx = dy·W; accumulates dW = dyᵀ·x and db = Σ dy.</summary>
    public float[] Backward(float[] dy)
    {
        var dx = new float[lastBatch * Inputs];
        for (int n = 0; n < lastBatch; n++)
            for (int o = 0; o < Outputs; o++)
            {
                float g = dy[n * Outputs + o];
                biasGrad[o] += g;
                for (int i = 0; i < Inputs; i++)
                {
                    weightGrad[o * Inputs + i] += g * lastInput[n * Inputs + i];
                    dx[n * Inputs + i] += g * weight[o * Inputs + i];
                }
            }

        return dx;
    }

    /// <summary>Magnitude pruning: zeroes the <paramref name="fraction"/> of the weights with the smallest |w|.</summary>
    public void Prune(double fraction)
    {
        float threshold = weight.Select(Math.Abs).Order().ElementAt((int)(fraction * (weight.Length - 1)));
        for (int i = 0; i < weight.Length; i++) if (Math.Abs(weight[i]) <= threshold) weight[i] = 0;
    }

    /// <summary>One SGD-with-momentum step on the weights and bias from their gradients.</summary>
    /// <param name="learningRate">Step size.</param>
    /// <param name="momentum">Velocity decay.</param>
    public void Step(float learningRate, float momentum)
    {
        Sgd.Step(weight, weightGrad, weightVelocity, learningRate, momentum);
        Sgd.Step(bias, biasGrad, biasVelocity, learningRate, momentum);
        Array.Clear(weightGrad);
        Array.Clear(biasGrad);
    }
}
