using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// The mixed-precision executors against the float ones, bit for bit, on every layout and way of cutting a map into pieces:
/// with float storage they are the float executors (so the per-channel finish they repeat can never drift from
/// <see cref="BatchNormExecution"/>'s and <see cref="BatchNormBackwardExecution"/>'s), and with float16 or bfloat16 storage
/// their results are the float path's on the widened values, rounded once. .ci/run repeats them on each instruction-set path.
/// </summary>
public class MixedPrecisionExecutionTests
{
    /// <summary>Every layout the executors cut differently: (N, C) rows, rows wider than a piece (C &gt; 2048), channels-last,
    /// small planes, large planes, planes longer than a piece, and a batch of one (InstanceNorm's view).</summary>
    public static TheoryData<long[], bool> Layouts => new()
    {
        { [37, 5], false },
        { [3, 2500], false },
        { [300, 3], false },
        { [4, 6, 5, 3], true },
        { [5, 3, 4, 4], false },
        { [2, 3, 300], false },
        { [2, 2, 3000], false },
        { [1, 7, 700], false },
        { [9, 4, 3, 2, 2], false },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void FloatStorage_IsTheFloatPath_BitForBit(long[] shape, bool channelsLast)
    {
        foreach (bool training in new[] { true, false })
        {
            Case<float> c = Case<float>.Create(shape, channelsLast, seed: shape.Length);
            string context = $"[{string.Join(", ", shape)}] training {training}";
            RunBoth(c, training, out Result expected, out Result actual);
            AssertSameBits<float>(expected.Output, actual.Output, $"{context}: output");
            AssertSameBits<float>(expected.Dx, actual.Dx, $"{context}: dx");
            AssertSameResults(expected, actual, context);
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void SixteenBitStorage_IsTheFloatPathOnTheWidenedValues_RoundedOnce(long[] shape, bool channelsLast)
    {
        Check<Half>();
        Check<BFloat16>();

        void Check<TStorage>() where TStorage : unmanaged
        {
            foreach (bool training in new[] { true, false })
            {
                Case<TStorage> c = Case<TStorage>.Create(shape, channelsLast, seed: shape.Length + 1);
                string context = $"{typeof(TStorage).Name} [{string.Join(", ", shape)}] training {training}";
                RunBoth(c, training, out Result expected, out Result actual);
                AssertSameBits<float>(RoundedOnce<TStorage>(expected.Output), actual.Output, $"{context}: output");
                AssertSameBits<float>(RoundedOnce<TStorage>(expected.Dx), actual.Dx, $"{context}: dx");
                AssertSameResults(expected, actual, context);
            }
        }
    }

    [Fact]
    public void ShortPerChannelTensors_AreReadAtChannelModuloLength_AsInstanceNormsViewReadsThem()
    {
        // (1, N·C, S) with (C) weight, bias and running statistics, C = 3, N = 4.
        Case<Half> c = Case<Half>.Create([1, 12, 40], false, seed: 9, perChannelLength: 3);
        foreach (bool training in new[] { true, false })
        {
            RunBoth(c, training, out Result expected, out Result actual, updateRunning: false);
            AssertSameBits<float>(RoundedOnce<Half>(expected.Output), actual.Output, $"training {training}: output");
            AssertSameBits<float>(RoundedOnce<Half>(expected.Dx), actual.Dx, $"training {training}: dx");
            AssertSameResults(expected, actual, $"training {training}");
        }
    }

    /// <summary>The values rounded to TStorage and widened back: what a mixed-precision result holds.</summary>
    private static float[] RoundedOnce<TStorage>(float[] values) where TStorage : unmanaged
    {
        var stored = new TStorage[values.Length];
        HalfConversion.Narrow<TStorage>(values, stored);
        var widened = new float[values.Length];
        HalfConversion.Widen<TStorage>(stored, widened);
        return widened;
    }

    private sealed record Result(float[] Output, float[] RunningMean, float[] RunningVar, double[] Mean, double[] InvStd, double[] Unbiased,
                                 double[] Biased, float[] Dx, double[] GradWeight, double[] GradBias);

    private static void AssertSameResults(Result expected, Result actual, string context)
    {
        AssertSameBits<float>(expected.RunningMean, actual.RunningMean, $"{context}: running mean");
        AssertSameBits<float>(expected.RunningVar, actual.RunningVar, $"{context}: running var");
        AssertSameBits<double>(expected.Mean, actual.Mean, $"{context}: saved mean");
        AssertSameBits<double>(expected.InvStd, actual.InvStd, $"{context}: saved invStd");
        AssertSameBits<double>(expected.Unbiased, actual.Unbiased, $"{context}: unbiased variance");
        AssertSameBits<double>(expected.Biased, actual.Biased, $"{context}: biased variance");
        AssertSameBits<double>(expected.GradWeight, actual.GradWeight, $"{context}: Σ dy·x̂");
        AssertSameBits<double>(expected.GradBias, actual.GradBias, $"{context}: Σ dy");
        Assert.Equal(expected.Dx.Length, actual.Dx.Length);
    }

    /// <summary>The float executors on the widened input and the mixed ones on the stored input; each result read back as
    /// float (the mixed outputs widened exactly), dx of the mixed backward rounded and widened the same way.</summary>
    private static void RunBoth<TStorage>(Case<TStorage> c, bool training, out Result expected, out Result actual, bool updateRunning = true)
        where TStorage : unmanaged
    {
        expected = Run(c, training, updateRunning, (layout, y, rm, rv, mean, invStd, unbiased, biased) =>
            BatchNormExecution.Run(layout, c.Widened, y, rm, rv, c.Weight, c.Bias, training, 0.1, 1e-5, mean, invStd, unbiased, null, biased),
            (layout, dx, mean, invStd, weight, gw, gb) =>
            {
                Tensor<float> result = layout.AllocateLike(c.Widened);
                BatchNormBackwardExecution.Run(layout, c.Widened, c.WidenedDy, result, mean, invStd, weight, training, gw, gb);
                Flatten(result).CopyTo(dx, 0);
            });
        actual = Run(c, training, updateRunning, (layout, y, rm, rv, mean, invStd, unbiased, biased) =>
            {
                Tensor<TStorage> stored = layout.AllocateLike(c.Stored);
                long count = MixedPrecisionExecution.Run(layout, c.Stored, stored, rm, rv, c.Weight, c.Bias, training, 0.1, 1e-5, mean, invStd, unbiased,
                                                         null, biased);
                Widen(stored).CopyTo(y);
                return count;
            },
            (layout, dx, mean, invStd, weight, gw, gb) =>
            {
                Tensor<TStorage> result = layout.AllocateLike(c.Stored);
                MixedPrecisionExecution.Backward(layout, c.Stored, c.StoredDy, result, mean, invStd, weight, training, gw, gb);
                Flatten(Widen(result)).CopyTo(dx, 0);
            });
    }

    private delegate long Forward(NormLayout layout, Tensor<float> y, Tensor<float>? runningMean, Tensor<float>? runningVar, double[] mean,
                                  double[] invStd, double[] unbiased, double[] biased);

    private delegate void Backward(NormLayout layout, float[] dx, double[] mean, double[] invStd, double[] weight, double[] gradWeight, double[] gradBias);

    private static Result Run<TStorage>(Case<TStorage> c, bool training, bool updateRunning, Forward forward, Backward backward) where TStorage : unmanaged
    {
        Assert.True(NormLayout.TryDescribe(c.Widened, out NormLayout layout));
        int channels = layout.Channels;
        Tensor<float> rm = Tensor.Create((float[])c.RunningMean.Clone(), [c.RunningMean.Length]), rv = Tensor.Create((float[])c.RunningVar.Clone(), [c.RunningVar.Length]);
        Tensor<float> y = layout.AllocateLike(c.Widened);
        double[] mean = new double[channels], invStd = new double[channels], unbiased = new double[channels], biased = new double[channels];
        forward(layout, y, training && !updateRunning ? null : rm, training && !updateRunning ? null : rv, mean, invStd, unbiased, biased);
        var weight = Enumerable.Range(0, channels).Select(g => (double)c.Weight[g % c.Weight.FlattenedLength]).ToArray();
        double[] gw = new double[channels], gb = new double[channels];
        var dx = new float[c.Widened.FlattenedLength];
        backward(layout, dx, mean, invStd, weight, gw, gb);
        return new Result(Flatten(y), Flatten(rm), Flatten(rv), mean, invStd, unbiased, biased, dx, gw, gb);
    }

    private static float[] Flatten(Tensor<float> tensor)
    {
        // Memory order: the executors' outputs lie as their inputs do (channels-last stays channels-last).
        var values = new float[tensor.FlattenedLength];
        TensorStorage.Span(tensor).CopyTo(values);
        return values;
    }

    private static Tensor<float> Widen<TStorage>(Tensor<TStorage> tensor) where TStorage : unmanaged
    {
        Tensor<float> widened = Tensor.CreateFromShape<float>(tensor.Lengths, tensor.Strides);
        HalfConversion.Widen<TStorage>(TensorStorage.Span(tensor), TensorStorage.Span(widened));
        return widened;
    }

    /// <summary>An input (and dy) stored in TStorage and the same values as float, in the same layout, with float per-channel
    /// tensors.</summary>
    private sealed record Case<TStorage>(Tensor<TStorage> Stored, Tensor<float> Widened, Tensor<TStorage> StoredDy, Tensor<float> WidenedDy,
                                         Tensor<float> Weight, Tensor<float> Bias, float[] RunningMean, float[] RunningVar)
        where TStorage : unmanaged
    {
        public static Case<TStorage> Create(long[] shape, bool channelsLast, int seed, int perChannelLength = 0)
        {
            nint[] lengths = shape.Select(l => (nint)l).ToArray();
            nint[]? strides = channelsLast ? NormLayout.ChannelsLastStrides(lengths) : null;
            int count = (int)shape.Aggregate(1L, (a, b) => a * b), channels = perChannelLength > 0 ? perChannelLength : (int)shape[1];
            var random = new Random(seed);
            (Tensor<TStorage> x, Tensor<float> xf) = Pair(count, lengths, strides, random, 12, 3);
            (Tensor<TStorage> dy, Tensor<float> dyf) = Pair(count, lengths, strides, random, 0, 1);
            float[] Floats(double offset, double scale) => Enumerable.Range(0, channels).Select(_ => (float)(offset + scale * random.NextDouble())).ToArray();
            return new Case<TStorage>(x, xf, dy, dyf, Tensor.Create(Floats(0.5, 1), [channels]), Tensor.Create(Floats(-1, 2), [channels]),
                                      Floats(10, 4), Floats(5, 8));
        }

        private static (Tensor<TStorage>, Tensor<float>) Pair(int count, nint[] lengths, nint[]? strides, Random random, double offset, double scale)
        {
            var floats = Enumerable.Range(0, count).Select(_ => (float)(offset + scale * (random.NextDouble() * 2 - 1))).ToArray();
            var stored = new TStorage[count];
            HalfConversion.Narrow<TStorage>(floats, stored);
            HalfConversion.Widen<TStorage>(stored, floats);
            return strides is null
                ? (Tensor.Create(stored, lengths), Tensor.Create(floats, lengths))
                : (Tensor.Create(stored, lengths, strides), Tensor.Create(floats, lengths, strides));
        }
    }
}
