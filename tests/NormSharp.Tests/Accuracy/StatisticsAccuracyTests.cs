using System.Numerics;
using Xunit.Abstractions;

namespace NormSharp.Tests.Accuracy;

/// <summary>
/// Mean and variance of one channel to about 106 bits: a two-pass method in double-double arithmetic (every sum, difference
/// and square carried as an unevaluated pair hi + lo). <see cref="StatisticsAccuracyTests.ExactReference_AgreesWithIntegerArithmetic"/>
/// checks it against exact integer arithmetic.
/// </summary>
public static class ExactStatistics
{
    public static (double Mean, double VarSum) Of(ReadOnlySpan<double> x)
    {
        (double meanHigh, double meanLow, double varSum) = MeanPairOf(x);
        return (meanHigh + meanLow, varSum);
    }

    /// <summary>The mean as an unevaluated pair meanHigh + meanLow, and the sum of squared deviations.</summary>
    public static (double MeanHigh, double MeanLow, double VarSum) MeanPairOf(ReadOnlySpan<double> x)
    {
        double sumHigh = 0, sumLow = 0;
        foreach (double v in x) AddTo(ref sumHigh, ref sumLow, v, 0);
        // mean = (sumHigh + sumLow) / n in double-double: the quotient, then its remainder divided again.
        double n = x.Length, meanHigh = sumHigh / n;
        double remainder = Math.FusedMultiplyAdd(-meanHigh, n, sumHigh) + sumLow;
        double meanLow = remainder / n;

        double varHigh = 0, varLow = 0;
        foreach (double v in x)
        {
            // d = v - mean exactly enough (TwoSum), then d² as hi + lo (TwoProd with a fused multiply-add).
            (double dHigh, double dLow) = TwoSum(v, -meanHigh);
            dLow -= meanLow;
            (dHigh, dLow) = TwoSum(dHigh, dLow);
            double squareHigh = dHigh * dHigh;
            double squareLow = Math.FusedMultiplyAdd(dHigh, dHigh, -squareHigh) + 2 * dHigh * dLow;
            AddTo(ref varHigh, ref varLow, squareHigh, squareLow);
        }

        (meanHigh, meanLow) = TwoSum(meanHigh, meanLow);
        return (meanHigh, meanLow, varHigh + varLow);
    }

    /// <summary>Exact: Σx and Σx² as integers times a power of two; varSum = (n·Σx² - (Σx)²) / n.</summary>
    public static (double Mean, double VarSum) ExactlyOf(ReadOnlySpan<double> x)
    {
        const int scale = 1100; // every finite double is an integer times 2^-1074
        BigInteger sum = 0, squares = 0;
        foreach (double v in x)
        {
            long bits = BitConverter.DoubleToInt64Bits(v);
            int exponent = (int)((bits >> 52) & 0x7FF);
            long mantissa = bits & 0xFFFFFFFFFFFFF;
            if (exponent == 0) exponent = 1; else mantissa |= 1L << 52;
            BigInteger value = new BigInteger(mantissa) << (exponent - 1075 + scale);
            if (v < 0) value = -value;
            sum += value;
            squares += value * value;
        }

        BigInteger n = x.Length;
        return (Ratio(sum, n, scale), Ratio(n * squares - sum * sum, n, 2 * scale));
    }

    private static double Ratio(BigInteger numerator, BigInteger denominator, int scale)
    {
        // numerator / denominator / 2^scale, rounded through 64 significant bits (far below a double's ulp).
        int shift = (int)(numerator.GetBitLength() - denominator.GetBitLength()) - 64;
        BigInteger quotient = shift >= 0 ? numerator / (denominator << shift) : (numerator << -shift) / denominator;
        return Math.ScaleB((double)quotient, shift - scale);
    }

    private static void AddTo(ref double high, ref double low, double valueHigh, double valueLow)
    {
        (double s, double e) = TwoSum(high, valueHigh);
        e += low + valueLow;
        (high, low) = TwoSum(s, e);
    }

    private static (double Sum, double Error) TwoSum(double a, double b)
    {
        double s = a + b, bb = s - a;
        return (s, (a - (s - bb)) + (b - bb));
    }
}

/// <summary>
/// Batch statistics stay accurate whatever the order and offset of the data: adversarial channels of 2^20 values (10^7 in
/// one case) on every reduction path the layouts use, float and double, against <see cref="ExactStatistics"/>. Double results
/// are read through the modules (momentum 1, so running_var is the unbiased variance), float results through the forward
/// pass's double statistics (the modules store them as float) and through the modules' float running_var.
/// </summary>
public class StatisticsAccuracyTests(ITestOutputHelper output)
{
    private const int Count = 1 << 20, Small = 1 << 14;
    private const double Tolerance = 1e-13;

    /// <summary>The layouts' three reduction paths, with the shapes that reach them (every channel holds 2^20 values).</summary>
    public enum Path
    {
        /// <summary>(N, C): rows of C values.</summary>
        Rows,
        /// <summary>(N, C, H, W) stored channels-last: rows of C values.</summary>
        ChannelsLast,
        /// <summary>Planes of 64 values: channel by channel over blocks of samples.</summary>
        SmallPlanes,
        /// <summary>Planes of 2^18 values, each larger than a work item: plane by plane.</summary>
        LargePlanes,
        /// <summary>One plane of 2^20 values (batch of one).</summary>
        OnePlane,
        /// <summary>InstanceNorm2d: the (1, N·C, H·W) view, plane by plane with a batch of one.</summary>
        InstanceNorm,
    }

    public enum Data { OutlierFirst, OutlierLast, SortedAscending, SortedDescending, LargeMean }

    private static readonly Dictionary<(Data, int), double[]> Channels = [];

    private static double[] Normal(int count, int seed, double mean = 0)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = mean + Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
        return values;
    }

    private static double[] Other(int count)
    {
        lock (Channels)
        {
            if (!Channels.TryGetValue((Data.OutlierFirst, -count), out double[]? values)) Channels[(Data.OutlierFirst, -count)] = values = Normal(count, 5);
            return values;
        }
    }

    /// <summary>Channel 0's values in logical (n, s) order: N(0, 1) draws made adversarial.</summary>
    private static double[] Channel(Data data, int count = Count)
    {
        lock (Channels)
        {
            if (Channels.TryGetValue((data, count), out double[]? cached)) return cached;
            double[] values = Normal(count, 11, data == Data.LargeMean ? 1e8 : 0);
            if (data == Data.OutlierFirst) values[0] = 1e4;
            if (data == Data.OutlierLast) values[^1] = 1e4;
            if (data is Data.SortedAscending or Data.SortedDescending) Array.Sort(values);
            if (data == Data.SortedDescending) Array.Reverse(values);
            return Channels[(data, count)] = values;
        }
    }

    /// <summary>The shape of <paramref name="path"/> with <paramref name="count"/> (a power of 4) values a channel. With 2^20
    /// values, LargePlanes has planes of 2^18 values, larger than a work item.</summary>
    private static nint[] Shape(Path path, int count)
    {
        int side = (int)Math.Sqrt(count);
        return path switch
        {
            Path.Rows => [count, 2],
            Path.ChannelsLast or Path.LargePlanes => [4, 2, side / 2, side / 2],
            Path.SmallPlanes => [count / 64, 2, 8, 8],
            Path.OnePlane => [1, 1, side, side],
            _ => [1, 2, side, side],
        };
    }

    /// <summary>The input of <paramref name="path"/> with channel 0 holding <paramref name="channel"/> and any other channel N(0, 1).</summary>
    private static Tensor<T> Input<T>(Path path, double[] channel) where T : IFloatingPointIeee754<T>
    {
        nint[] shape = Shape(path, channel.Length);
        (int n, int c, int s) = TestData.Nc(shape);
        double[] other = Other(channel.Length);
        var stored = new T[channel.Length * c];
        for (int sample = 0; sample < n; sample++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++)
                {
                    double value = (ch == 0 ? channel : other)[sample * s + j];
                    long at = path == Path.ChannelsLast ? ((long)sample * s + j) * c + ch : ((long)sample * c + ch) * s + j;
                    stored[at] = T.CreateTruncating(value);
                }
        return path == Path.ChannelsLast ? Tensor.Create(stored, shape, NormLayout.ChannelsLastStrides(shape)) : Tensor.Create(stored, shape);
    }

    /// <summary>Channel 0's mean and unbiased variance in double, as the forward pass computes them.</summary>
    private static (double Mean, double UnbiasedVar) Statistics<T>(Path path, double[] channel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T> x = Input<T>(path, channel);
        if (typeof(T) == typeof(double))
        {
            // Through the modules: with momentum 1 the running statistics are the batch's, stored in double.
            int c = (int)x.Lengths[1];
            NormBase<T> layer = path switch
            {
                Path.Rows => new BatchNorm1d<T>(c, momentum: 1),
                Path.InstanceNorm => new InstanceNorm2d<T>(c, momentum: 1, trackRunningStats: true),
                _ => new BatchNorm2d<T>(c, momentum: 1),
            };
            layer.Forward(x);
            return (double.CreateTruncating(layer.RunningMean![0]), double.CreateTruncating(layer.RunningVar![0]));
        }

        // Float: the modules round the statistics to float, so read the double values the forward pass computes.
        Assert.True(NormLayout.TryDescribe(x, out NormLayout layout));
        if (path == Path.InstanceNorm) layout = new NormLayout(1, layout.Batch * layout.Channels, layout.Spatial, false, false);
        double[] mean = new double[layout.Channels], invStd = new double[layout.Channels], unbiased = new double[layout.Channels];
        BatchNormExecution.Run(layout, x, Tensor.CreateFromShape<T>(x.Lengths), null, null, null, null, training: true, momentum: 1, eps: 1e-5,
                               mean, invStd, unbiased);
        return (mean[0], unbiased[0]);
    }

    private void AssertAccurate(Data data, Path[] paths)
    {
        var failures = new List<string>();
        foreach (bool single in new[] { false, true })
        {
            double[] channel = Channel(data);
            if (single) channel = channel.Select(v => (double)(float)v).ToArray();
            (double exactMean, double exactVarSum) = ExactStatistics.Of(channel);
            double exactVar = exactVarSum / (channel.Length - 1), std = Math.Sqrt(exactVarSum / channel.Length);
            foreach (Path path in paths)
            {
                (double mean, double variance) = single ? Statistics<float>(path, channel) : Statistics<double>(path, channel);
                double varianceError = Math.Abs(variance - exactVar) / exactVar;
                double meanError = Math.Abs(mean - exactMean) / (Math.Abs(exactMean) + std);
                string type = single ? "float" : "double";
                output.WriteLine($"{data} {type} {path}: variance relative error {varianceError:E2}, mean error / (|mean| + std) {meanError:E2}");
                if (!(varianceError <= Tolerance) || !(meanError <= Tolerance))
                    failures.Add($"{type} {path}: variance {variance:R} vs {exactVar:R} ({varianceError:E2}), mean {mean:R} vs {exactMean:R} ({meanError:E2})");
            }
        }

        Assert.True(failures.Count == 0, $"{data}, tolerance {Tolerance:E0}:{Environment.NewLine}{string.Join(Environment.NewLine, failures)}");
    }

    private static readonly Path[] AllPaths = Enum.GetValues<Path>();

    [Fact]
    public void Variance_IsAccurateWhenTheFirstValueIsAnOutlier() => AssertAccurate(Data.OutlierFirst, AllPaths);

    [Fact]
    public void Variance_IsAccurateWhenTheLastValueIsAnOutlier() => AssertAccurate(Data.OutlierLast, AllPaths);

    [Fact]
    public void Variance_IsAccurateForValuesSortedAscending() => AssertAccurate(Data.SortedAscending, AllPaths);

    [Fact]
    public void Variance_IsAccurateForValuesSortedDescending() => AssertAccurate(Data.SortedDescending, AllPaths);

    [Fact]
    public void Variance_IsAccurateForAMeanOf1e8WithStandardDeviation1() => AssertAccurate(Data.LargeMean, AllPaths);

    [Fact]
    public void Variance_IsAccurateForTenMillionValuesWithAnOutlierFirst()
    {
        double[] channel = Channel(Data.OutlierFirst, 10_000_000);
        (_, double exactVarSum) = ExactStatistics.Of(channel);
        double exactVar = exactVarSum / (channel.Length - 1);
        foreach (nint[] shape in new nint[][] { [1, 1, 10_000, 1000], [10_000_000, 1] })
        {
            var layer = shape.Length == 2 ? (NormBase<double>)new BatchNorm1d<double>(1, momentum: 1) : new BatchNorm2d<double>(1, momentum: 1);
            layer.Forward(Tensor.Create(channel, shape));
            double error = Math.Abs(layer.RunningVar![0] - exactVar) / exactVar;
            output.WriteLine($"10^7 values, outlier first, [{string.Join(", ", shape)}]: variance relative error {error:E2}");
            Assert.True(error <= Tolerance, $"[{string.Join(", ", shape)}]: {layer.RunningVar![0]:R} vs {exactVar:R} ({error:E2})");
        }
    }

    [Fact]
    public void FloatRunningVariance_IsTheExactVarianceRoundedToFloat_WhenTheFirstValueIsAnOutlier()
    {
        double[] channel = Channel(Data.OutlierFirst).Select(v => (double)(float)v).ToArray();
        (_, double exactVarSum) = ExactStatistics.Of(channel);
        float expected = (float)(exactVarSum / (channel.Length - 1));
        foreach (Path path in new[] { Path.Rows, Path.SmallPlanes, Path.LargePlanes })
        {
            var layer = path == Path.Rows ? (NormBase<float>)new BatchNorm1d(2, momentum: 1) : new BatchNorm2d(2, momentum: 1);
            layer.Forward(Input<float>(path, channel));
            float actual = layer.RunningVar![0];
            Assert.True(Math.Abs(actual - expected) <= MathF.BitIncrement(expected) - expected, $"{path}: {actual:R} vs {expected:R}");
        }
    }

    [Fact]
    public void Statistics_AreBitIdenticalForAnyThreadCount_WithPlanesLargerThanAWorkItemAndWideRows()
    {
        // Planes of 90000 values (one work item each, merged across samples), wide rows (several row blocks and chunks
        // of 8 rows), channels-last rows, small planes in several sample blocks.
        var cases = new (nint[] Shape, bool ChannelsLast)[] { ([3, 2, 300, 300], false), ([300, 1024], false), ([8, 3, 100, 100], true), ([3000, 2, 5, 5], false) };
        int original = NormSharpOptions.MaxDegreeOfParallelism;
        try
        {
            foreach ((nint[] shape, bool channelsLast) in cases)
            {
                double[] values = Normal((int)shape.Aggregate((nint)1, (a, b) => a * b), 9, 3);
                var x = channelsLast ? Tensor.Create(values, shape, NormLayout.ChannelsLastStrides(shape)) : Tensor.Create(values, shape);
                Assert.True(NormLayout.TryDescribe(x, out NormLayout layout));
                double[]? baseline = null;
                foreach (int threads in new[] { 1, 2, 7 })
                {
                    NormSharpOptions.MaxDegreeOfParallelism = threads;
                    double[] mean = new double[layout.Channels], invStd = new double[layout.Channels], unbiased = new double[layout.Channels];
                    BatchNormExecution.Run(layout, x, Tensor.CreateFromShape<double>(x.Lengths), null, null, null, null, training: true, momentum: 1,
                                           eps: 1e-5, mean, invStd, unbiased);
                    double[] statistics = [.. mean, .. unbiased];
                    baseline ??= statistics;
                    Assert.Equal(baseline, statistics);
                }
            }
        }
        finally
        {
            NormSharpOptions.MaxDegreeOfParallelism = original;
        }
    }

    [Fact]
    public void ExactReference_AgreesWithIntegerArithmetic()
    {
        foreach (Data data in Enum.GetValues<Data>())
        {
            double[] channel = Channel(data).AsSpan(0, 1 << 14).ToArray();
            (double mean, double varSum) = ExactStatistics.Of(channel);
            (double exactMean, double exactVarSum) = ExactStatistics.ExactlyOf(channel);
            Assert.True(Math.Abs(varSum - exactVarSum) <= 1e-15 * exactVarSum, $"{data}: {varSum:R} vs {exactVarSum:R}");
            Assert.True(Math.Abs(mean - exactMean) <= 1e-15 * (Math.Abs(exactMean) + 1), $"{data}: {mean:R} vs {exactMean:R}");
        }
    }

    [Theory]
    [InlineData(Path.Rows)]
    [InlineData(Path.ChannelsLast)]
    [InlineData(Path.SmallPlanes)]
    [InlineData(Path.LargePlanes)]
    [InlineData(Path.OnePlane)]
    [InlineData(Path.InstanceNorm)]
    public void Mean_IsInfinityWhenAValueIsInfinity(Path path)
    {
        foreach (double infinity in new[] { double.PositiveInfinity, double.NegativeInfinity })
            foreach (int at in new[] { 0, 1000, Small - 1 })
            {
                double[] channel = Normal(Small, 3);
                channel[at] = infinity;
                (double mean, double variance) = Statistics<double>(path, channel);
                Assert.Equal(infinity, mean);
                Assert.True(double.IsNaN(variance), $"variance {variance}");
                (mean, variance) = Statistics<float>(path, channel);
                Assert.Equal(infinity, mean);
                Assert.True(double.IsNaN(variance), $"variance {variance}");
            }
    }

    [Theory]
    [InlineData(Path.Rows)]
    [InlineData(Path.SmallPlanes)]
    [InlineData(Path.LargePlanes)]
    [InlineData(Path.InstanceNorm)]
    public void Mean_IsNaNWhenBothInfinitiesOrANaNOccur(Path path)
    {
        double[] bothInfinities = Normal(Small, 3), withNaN = Normal(Small, 3);
        bothInfinities[0] = double.PositiveInfinity;
        bothInfinities[Small - 1] = double.NegativeInfinity;
        withNaN[Small / 2] = double.NaN;
        foreach (double[] channel in new[] { bothInfinities, withNaN })
        {
            (double mean, double variance) = Statistics<double>(path, channel);
            Assert.True(double.IsNaN(mean) && double.IsNaN(variance), $"mean {mean}, variance {variance}");
            (mean, variance) = Statistics<float>(path, channel);
            Assert.True(double.IsNaN(mean) && double.IsNaN(variance), $"mean {mean}, variance {variance}");
        }
    }
}
