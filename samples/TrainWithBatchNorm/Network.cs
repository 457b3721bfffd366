using System.Numerics.Tensors;
using NormSharp;

namespace TrainWithBatchNorm;

/// <summary>Linear(2, H) → BatchNorm1d(H) → ReLU → Linear(H, H) → BatchNorm1d(H) → ReLU → Linear(H, 3).</summary>
public sealed class Network
{
    private readonly Linear first, second, output;
    private bool[] firstMask = [], secondMask = [];

    /// <summary>The network with <paramref name="hidden"/> hidden features, initialized from <paramref name="seed"/>.</summary>
    /// <param name="hidden">H, the hidden width.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    public Network(int hidden, int seed)
    {
        var random = new Random(seed);
        first = new Linear(2, hidden, random);
        second = new Linear(hidden, hidden, random);
        output = new Linear(hidden, Spirals.Classes, random);
        FirstNorm = new BatchNorm1d(hidden);
        SecondNorm = new BatchNorm1d(hidden);
    }

    /// <summary>The BatchNorm1d after the first Linear.</summary>
    public BatchNorm1d FirstNorm { get; }

    /// <summary>The BatchNorm1d after the second Linear.</summary>
    public BatchNorm1d SecondNorm { get; }

    /// <summary>Both normalization layers, in order.</summary>
    public IEnumerable<BatchNorm1d> Norms => [FirstNorm, SecondNorm];

    /// <summary>The normalization layers under the names PyTorch would give them in <c>nn.Sequential</c> (Linear 0,
    /// BatchNorm1d 1, ReLU 2, Linear 3, BatchNorm1d 4, ...), for saving as a safetensors checkpoint.</summary>
    public NormModuleCollection NormLayers => new("Sequential") { ["1"] = FirstNorm, ["4"] = SecondNorm };

    /// <summary>Prunes the hidden Linear(H, H)'s weights (<see cref="Linear.Prune"/>): what the second BatchNorm's running
    /// statistics described no longer comes out of it.</summary>
    public void Prune(double fraction) => second.Prune(fraction);

    /// <summary>Training mode (<paramref name="mode"/> true) or evaluation mode for both BatchNorm layers.</summary>
    /// <param name="mode">True for training.</param>
    public void Train(bool mode = true)
    {
        foreach (BatchNorm1d norm in Norms) norm.Train(mode);
    }

    /// <summary>The logits of <paramref name="batch"/> rows of <paramref name="x"/> (2 features each).</summary>
    /// <param name="x">(batch, 2) points, row-major.</param>
    /// <param name="batch">The number of rows.</param>
    public float[] Forward(float[] x, int batch)
    {
        float[] h = Relu(Normalize(FirstNorm, first.Forward(x, batch), batch, first.Outputs), out firstMask);
        h = Relu(Normalize(SecondNorm, second.Forward(h, batch), batch, second.Outputs), out secondMask);
        return output.Forward(h, batch);
    }

    /// <summary>Backpropagates the loss gradient through every layer, accumulating parameter gradients.</summary>
    /// <param name="gradLogits">(batch, 3) gradient of the loss with respect to the logits.</param>
    /// <param name="batch">The number of rows.</param>
    public void Backward(float[] gradLogits, int batch)
    {
        float[] g = output.Backward(gradLogits);
        g = NormBackward(SecondNorm, ReluBackward(g, secondMask), batch, second.Outputs);
        g = second.Backward(g);
        g = NormBackward(FirstNorm, ReluBackward(g, firstMask), batch, first.Outputs);
        first.Backward(g);
    }

    /// <summary>One SGD-with-momentum step on every parameter; the BatchNorm layers' gradients are cleared after theirs.</summary>
    /// <param name="learningRate">Step size.</param>
    /// <param name="momentum">Velocity decay.</param>
    public void Step(float learningRate, float momentum)
    {
        first.Step(learningRate, momentum);
        second.Step(learningRate, momentum);
        output.Step(learningRate, momentum);
        foreach (BatchNorm1d norm in Norms)
        {
            foreach (Parameter<float> parameter in new[] { norm.Weight!, norm.Bias! })
            {
                velocities.TryAdd(parameter, new float[parameter.Data.FlattenedLength]);
                Sgd.Step(Span(parameter.Data), Span(parameter.Grad!), velocities[parameter], learningRate, momentum);
            }

            norm.ZeroGrad();
        }
    }

    private readonly Dictionary<Parameter<float>, float[]> velocities = [];

    private static float[] Normalize(BatchNorm1d norm, float[] x, int batch, int features)
    {
        Tensor<float> y = norm.Forward(Tensor.Create(x, [batch, features]));
        var values = new float[y.FlattenedLength];
        y.FlattenTo(values);
        return values;
    }

    private static float[] NormBackward(BatchNorm1d norm, float[] dy, int batch, int features)
    {
        Tensor<float> dx = norm.Backward(Tensor.Create(dy, [batch, features]));
        var values = new float[dx.FlattenedLength];
        dx.FlattenTo(values);
        return values;
    }

    private static float[] Relu(float[] x, out bool[] mask)
    {
        mask = new bool[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            mask[i] = x[i] > 0;
            if (!mask[i]) x[i] = 0;
        }

        return x;
    }

    private static float[] ReluBackward(float[] dy, bool[] mask)
    {
        for (int i = 0; i < dy.Length; i++) if (!mask[i]) dy[i] = 0;
        return dy;
    }

    private static Span<float> Span(Tensor<float> tensor) => tensor.GetSpan([0], (int)tensor.FlattenedLength);
}
