using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace NormSharp.Benchmarks;

/// <summary>
/// InstanceNorm2d (affine, no tracking: the style-transfer configuration) against libtorch's <c>instance_norm</c>,
/// float32, on the same data: training forward and forward + backward, with a plain copy as the bandwidth reference.
/// </summary>
[MemoryDiagnoser]
public class InstanceNormBenchmarks
{
    private InstanceNorm2d layer = null!;
    private System.Numerics.Tensors.Tensor<float> x = null!, y = null!, dy = null!, dx = null!;
    private float[] copySource = [], copyTarget = [];
    private torch.Tensor tx = null!, tdy = null!, tw = null!, tb = null!;

    [ParamsSource(nameof(Shapes))]
    public BenchmarkShape Shape { get; set; } = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    public static IEnumerable<BenchmarkShape> Shapes => BenchmarkShape.InstanceNorm;

    [GlobalSetup]
    public void Setup()
    {
        NormSharpOptions.MaxDegreeOfParallelism = Threads;
        torch.set_num_threads(Threads);
        var random = new Random(42);
        float[] values = Enumerable.Range(0, (int)Shape.Elements).Select(_ => (float)(random.NextDouble() * 4 - 1)).ToArray();
        float[] gradients = Enumerable.Range(0, (int)Shape.Elements).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        int channels = (int)Shape.Lengths[1];
        nint[] lengths = Shape.Lengths.Select(l => (nint)l).ToArray();
        layer = new InstanceNorm2d(channels, affine: true);
        x = System.Numerics.Tensors.Tensor.Create(values, lengths);
        dy = System.Numerics.Tensors.Tensor.Create(gradients, lengths);
        y = System.Numerics.Tensors.Tensor.Create(new float[values.Length], lengths);
        dx = System.Numerics.Tensors.Tensor.Create(new float[values.Length], lengths);
        copySource = (float[])values.Clone();
        copyTarget = new float[values.Length];
        tx = torch.tensor(values, Shape.Lengths);
        tdy = torch.tensor(gradients, Shape.Lengths);
        tw = torch.ones(channels).requires_grad_(true);
        tb = torch.zeros(channels).requires_grad_(true);
    }

    [Benchmark(Description = "NormSharp InstanceNorm2d forward (into buffer)")]
    public void NormSharpTrainForward() => layer.Forward(x, y);

    [Benchmark(Description = "libtorch instance_norm forward")]
    public void TorchTrainForward()
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad()) nn.functional.instance_norm(tx, null, null, tw, tb, true, 0.1, 1e-5);
    }

    [Benchmark(Description = "NormSharp InstanceNorm2d forward+backward (into buffers)")]
    public void NormSharpForwardBackward()
    {
        layer.Forward(x, y);
        layer.Backward(dy, dx);
    }

    [Benchmark(Description = "libtorch instance_norm forward+backward (autograd)")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        torch.Tensor input = tx.detach().requires_grad_(true);
        torch.Tensor output = nn.functional.instance_norm(input, null, null, tw, tb, true, 0.1, 1e-5);
        output.backward([tdy]);
        tw.grad?.zero_();
        tb.grad?.zero_();
    }

    [Benchmark(Description = "copy (bandwidth reference)")]
    public void Copy() => copySource.AsSpan().CopyTo(copyTarget);
}
