using System.Numerics.Tensors;

namespace NormSharp.Cli.Plotting.SpiralNetwork;

/// <summary>The spirals sample's network (samples/TrainWithBatchNorm), copied for <c>plot train-vs-eval</c>: Linear(2, H) → BatchNorm1d(H) → ReLU → Linear(H, H) → BatchNorm1d(H) → ReLU → Linear(H, 3).</summary>
internal sealed class Network
{
    private readonly Linear first, second, output;
    private bool[] firstMask = [], secondMask = [];

    public Network(int hidden, int seed)
    {
        var random = new Random(seed);
        first = new Linear(2, hidden, random);
        second = new Linear(hidden, hidden, random);
        output = new Linear(hidden, Spirals.Classes, random);
        FirstNorm = new BatchNorm1d(hidden);
        SecondNorm = new BatchNorm1d(hidden);
    }

    public BatchNorm1d FirstNorm { get; }

    public BatchNorm1d SecondNorm { get; }

    public IEnumerable<BatchNorm1d> Norms => [FirstNorm, SecondNorm];

    public void Train(bool mode = true)
    {
        foreach (BatchNorm1d norm in Norms) norm.Train(mode);
    }

    public float[] Forward(float[] x, int batch)
    {
        float[] h = Relu(Normalize(FirstNorm, first.Forward(x, batch), batch, first.Outputs), out firstMask);
        h = Relu(Normalize(SecondNorm, second.Forward(h, batch), batch, second.Outputs), out secondMask);
        return output.Forward(h, batch);
    }

    public void Backward(float[] gradLogits, int batch)
    {
        float[] g = output.Backward(gradLogits);
        g = NormBackward(SecondNorm, ReluBackward(g, secondMask), batch, second.Outputs);
        g = second.Backward(g);
        g = NormBackward(FirstNorm, ReluBackward(g, firstMask), batch, first.Outputs);
        first.Backward(g);
    }

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
