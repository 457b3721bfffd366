using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace NormSharp.Benchmarks;

/// <summary>
/// NormSharp and libtorch (TorchSharp) side by side, float32, on the same data: training forward, evaluation forward,
/// forward + backward, and a plain copy of the same bytes as the bandwidth reference.
/// </summary>
[MemoryDiagnoser]
public class BatchNormBenchmarks
{
    private BatchNorm<float> layer = null!;
    private System.Numerics.Tensors.Tensor<float> x = null!, y = null!, dy = null!, dx = null!;
    private float[] copySource = [], copyTarget = [];
    private torch.Tensor tx = null!, tdy = null!, trm = null!, trv = null!, tw = null!, tb = null!;

    [ParamsSource(nameof(Shapes))]
    public BenchmarkShape Shape { get; set; } = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    public static IEnumerable<BenchmarkShape> Shapes => BenchmarkShape.All;

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

        layer = Shape.Lengths.Length switch
        {
            2 or 3 => new BatchNorm1d(channels),
            4 => new BatchNorm2d(channels),
            _ => new BatchNorm3d(channels),
        };
        x = Create(values, lengths);
        dy = Create(gradients, lengths);
        y = Create(new float[values.Length], lengths);
        dx = Create(new float[values.Length], lengths);
        copySource = (float[])values.Clone();
        copyTarget = new float[values.Length];

        tx = TorchInput(values);
        tdy = TorchInput(gradients);
        trm = torch.zeros(channels);
        trv = torch.ones(channels);
        tw = torch.ones(channels).requires_grad_(true);
        tb = torch.zeros(channels).requires_grad_(true);
    }

    // NormSharp reads the same logical values; channels-last shapes are stored (N, H, W, C) on both sides.
    private System.Numerics.Tensors.Tensor<float> Create(float[] logical, nint[] lengths)
    {
        if (!Shape.ChannelsLast) return System.Numerics.Tensors.Tensor.Create(logical, lengths);
        int n = (int)lengths[0], c = (int)lengths[1], s = logical.Length / (n * c);
        var stored = new float[logical.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++) stored[(i * s + j) * c + ch] = logical[(i * c + ch) * s + j];
        return System.Numerics.Tensors.Tensor.Create(stored, lengths, NormLayout.ChannelsLastStrides(lengths));
    }

    private torch.Tensor TorchInput(float[] logical)
    {
        torch.Tensor t = torch.tensor(logical, Shape.Lengths);
        // A permuted NHWC tensor is what PyTorch calls channels_last-contiguous.
        return Shape.ChannelsLast ? t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : t;
    }

    [Benchmark(Description = "NormSharp train forward (into buffer)")]
    public void NormSharpTrainForward()
    {
        layer.Train();
        layer.Forward(x, y);
    }

    [Benchmark(Description = "NormSharp train forward (allocating)")]
    public System.Numerics.Tensors.Tensor<float> NormSharpTrainForwardAllocating()
    {
        layer.Train();
        return layer.Forward(x);
    }

    [Benchmark(Description = "libtorch train forward")]
    public void TorchTrainForward()
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad()) nn.functional.batch_norm(tx, trm, trv, tw, tb, training: true, momentum: 0.1, eps: 1e-5);
    }

    [Benchmark(Description = "NormSharp eval forward (into buffer)")]
    public void NormSharpEvalForward()
    {
        layer.Eval();
        layer.Forward(x, y);
    }

    [Benchmark(Description = "libtorch eval forward")]
    public void TorchEvalForward()
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad()) nn.functional.batch_norm(tx, trm, trv, tw, tb, training: false, momentum: 0.1, eps: 1e-5);
    }

    [Benchmark(Description = "NormSharp forward+backward (into buffers)")]
    public void NormSharpForwardBackward()
    {
        layer.Train();
        layer.Forward(x, y);
        layer.Backward(dy, dx);
    }

    [Benchmark(Description = "libtorch forward+backward (autograd)")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        torch.Tensor input = tx.detach().requires_grad_(true);
        torch.Tensor output = nn.functional.batch_norm(input, trm, trv, tw, tb, training: true, momentum: 0.1, eps: 1e-5);
        output.backward([tdy]);
        tw.grad?.zero_();
        tb.grad?.zero_();
    }

    [Benchmark(Description = "copy (bandwidth reference)")]
    public void Copy() => copySource.AsSpan().CopyTo(copyTarget);
}
