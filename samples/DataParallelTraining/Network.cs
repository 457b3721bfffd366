using System.Numerics;
using System.Numerics.Tensors;
using NormSharp;
using TrainWithBatchNorm;

namespace DataParallelTraining;

/// <summary>
/// Linear(2, H) → BatchNorm → ReLU → Linear(H, H) → BatchNorm → ReLU → Linear(H, 3), trained with SGD and momentum.
/// The BatchNorm layers are given: SyncBatchNorm for the data-parallel run, BatchNorm1d for the one-process reference.
/// </summary>
public sealed class Network<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Linear<T> first, second, output;
    private readonly BatchNorm<T>[] norms;
    private readonly Dictionary<object, double[]> velocities = [];
    private bool[] firstMask = [], secondMask = [];

    /// <summary>Builds the network; the same seed gives the same initial weights on every process.</summary>
    public Network(int hidden, int seed, Func<int, BatchNorm<T>> norm)
    {
        var random = new Random(seed);
        first = new Linear<T>(2, hidden, random);
        second = new Linear<T>(hidden, hidden, random);
        output = new Linear<T>(hidden, Spirals.Classes, random);
        norms = [norm(hidden), norm(hidden)];
    }

    public IReadOnlyList<BatchNorm<T>> Norms => norms;

    public void Train(bool mode)
    {
        foreach (BatchNorm<T> norm in norms) norm.Train(mode);
    }

    public T[] Forward(T[] x, int batch)
    {
        T[] h = Relu(Normalize(norms[0], first.Forward(x, batch), batch, first.Outputs), out firstMask);
        h = Relu(Normalize(norms[1], second.Forward(h, batch), batch, second.Outputs), out secondMask);
        return output.Forward(h, batch);
    }

    public void Backward(T[] gradLogits, int batch)
    {
        T[] g = output.Backward(gradLogits);
        g = NormBackward(norms[1], ReluBackward(g, secondMask), batch, second.Outputs);
        g = second.Backward(g);
        g = NormBackward(norms[0], ReluBackward(g, firstMask), batch, first.Outputs);
        first.Backward(g);
    }

    /// <summary>Every gradient (Linear weights and biases, BatchNorm weights and biases), in one fixed order.</summary>
    public double[] Gradients()
    {
        var all = new List<double>();
        foreach (Linear<T> layer in new[] { first, second, output })
        {
            all.AddRange(layer.WeightGrad);
            all.AddRange(layer.BiasGrad);
        }

        foreach (BatchNorm<T> norm in norms)
            foreach (Parameter<T> parameter in new[] { norm.Weight!, norm.Bias! })
                all.AddRange(parameter.Grad is null ? new double[norm.NumFeatures] : parameter.Grad.Select(double.CreateTruncating));
        return [.. all];
    }

    /// <summary>One SGD step with the given gradients (as <see cref="Gradients"/> orders them); clears the gradients.</summary>
    public void Step(double[] gradients, double learningRate, double momentum)
    {
        int at = 0;
        foreach (Linear<T> layer in new[] { first, second, output })
        {
            Sgd(layer.WeightGrad, layer.Weight, gradients.AsSpan(at, layer.WeightGrad.Length), learningRate, momentum);
            at += layer.WeightGrad.Length;
            Sgd(layer.BiasGrad, layer.Bias, gradients.AsSpan(at, layer.BiasGrad.Length), learningRate, momentum);
            at += layer.BiasGrad.Length;
            Array.Clear(layer.WeightGrad);
            Array.Clear(layer.BiasGrad);
        }

        foreach (BatchNorm<T> norm in norms)
        {
            foreach (Parameter<T> parameter in new[] { norm.Weight!, norm.Bias! })
            {
                Sgd(parameter, parameter.Data.AsTensorSpan().GetSpan([0], (int)parameter.Data.FlattenedLength), gradients.AsSpan(at, norm.NumFeatures),
                    learningRate, momentum);
                at += norm.NumFeatures;
            }

            norm.ZeroGrad();
        }
    }

    /// <summary>Every weight, in the same order as <see cref="Gradients"/>.</summary>
    public double[] Weights()
    {
        var all = new List<double>();
        foreach (Linear<T> layer in new[] { first, second, output })
        {
            all.AddRange(layer.Weight.ToArray().Select(double.CreateTruncating));
            all.AddRange(layer.Bias.ToArray().Select(double.CreateTruncating));
        }

        foreach (BatchNorm<T> norm in norms)
        {
            all.AddRange(norm.Weight!.Data.Select(double.CreateTruncating));
            all.AddRange(norm.Bias!.Data.Select(double.CreateTruncating));
            all.AddRange(norm.RunningMean!.Select(double.CreateTruncating));
            all.AddRange(norm.RunningVar!.Select(double.CreateTruncating));
        }

        return [.. all];
    }

    private void Sgd(object key, Span<T> parameter, ReadOnlySpan<double> gradient, double learningRate, double momentum)
    {
        if (!velocities.TryGetValue(key, out double[]? velocity)) velocities[key] = velocity = new double[parameter.Length];
        for (int i = 0; i < parameter.Length; i++)
        {
            velocity[i] = momentum * velocity[i] + gradient[i];
            parameter[i] -= T.CreateTruncating(learningRate * velocity[i]);
        }
    }

    private static T[] Normalize(BatchNorm<T> norm, T[] x, int batch, int features) => [.. norm.Forward(Tensor.Create(x, [batch, features]))];

    private static T[] NormBackward(BatchNorm<T> norm, T[] dy, int batch, int features) => [.. norm.Backward(Tensor.Create(dy, [batch, features]))];

    private static T[] Relu(T[] x, out bool[] mask)
    {
        mask = new bool[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            mask[i] = x[i] > T.Zero;
            if (!mask[i]) x[i] = T.Zero;
        }

        return x;
    }

    private static T[] ReluBackward(T[] dy, bool[] mask)
    {
        for (int i = 0; i < dy.Length; i++) if (!mask[i]) dy[i] = T.Zero;
        return dy;
    }
}
