using System.Numerics;

namespace DataParallelTraining;

/// <summary>A fully connected layer y = x·Wᵀ + b whose gradients are summed in double, so that summing them over
/// processes and summing them over one process's whole batch agree to the last bits that matter.</summary>
public sealed class Linear<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] weight, bias;
    private T[] lastInput = [];
    private int lastBatch;

    public Linear(int inputs, int outputs, Random random)
    {
        Inputs = inputs;
        Outputs = outputs;
        weight = new T[outputs * inputs];
        bias = new T[outputs];
        WeightGrad = new double[weight.Length];
        BiasGrad = new double[outputs];
        double scale = Math.Sqrt(2.0 / inputs); // He initialization for ReLU networks
        for (int i = 0; i < weight.Length; i++)
            weight[i] = T.CreateTruncating(scale * Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble()));
    }

    public int Inputs { get; }

    public int Outputs { get; }

    public Span<T> Weight => weight;

    public Span<T> Bias => bias;

    /// <summary>∂loss/∂W accumulated since the last step.</summary>
    public double[] WeightGrad { get; }

    /// <summary>∂loss/∂b accumulated since the last step.</summary>
    public double[] BiasGrad { get; }

    public T[] Forward(T[] x, int batch)
    {
        lastInput = x;
        lastBatch = batch;
        var y = new T[batch * Outputs];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < Outputs; o++)
            {
                T sum = bias[o];
                for (int i = 0; i < Inputs; i++) sum += x[n * Inputs + i] * weight[o * Inputs + i];
                y[n * Outputs + o] = sum;
            }

        return y;
    }

    public T[] Backward(T[] dy)
    {
        var dx = new T[lastBatch * Inputs];
        for (int n = 0; n < lastBatch; n++)
            for (int o = 0; o < Outputs; o++)
            {
                T g = dy[n * Outputs + o];
                BiasGrad[o] += double.CreateTruncating(g);
                for (int i = 0; i < Inputs; i++)
                {
                    WeightGrad[o * Inputs + i] += double.CreateTruncating(g * lastInput[n * Inputs + i]);
                    dx[n * Inputs + i] += g * weight[o * Inputs + i];
                }
            }

        return dx;
    }
}
