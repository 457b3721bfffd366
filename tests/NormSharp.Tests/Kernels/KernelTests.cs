using NormSharp.Kernels;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// Every kernel at every length 0..300 (every vector tail), against the scalar model bit for bit, so that the
/// Vector256 path and the scalar path agree. .ci/run repeats these tests with DOTNET_EnableAVX2=0 and
/// DOTNET_EnableHWIntrinsic=0 to run each path.
/// </summary>
public class KernelTests
{
    private static readonly int[] Lengths = Enumerable.Range(0, 301).ToArray();

    private static double[] Values(int length, int seed, double offset = 0)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => offset + random.NextDouble() * 4 - 1).ToArray();
    }

    private static void AssertBitIdentical(LaneModel.GroupMoments expected, Moments actual, string context)
    {
        Assert.True(expected.Sum.Equals(actual.Sum) && expected.High.Equals(actual.MeanHigh) && expected.Low.Equals(actual.MeanLow) && expected.M2.Equals(actual.M2),
                    $"{context}: expected {expected}, got {actual}");
    }

    [Fact]
    public void ShiftedMoments_Float_EveryLength_MatchesTheLaneModelBitForBit()
    {
        foreach (int length in Lengths.Skip(1).Concat([2047, 2048, 2049, 4096 + 17]))
        {
            float[] x = Values(length, length, 1e3).Select(v => (float)v).ToArray();
            Moments actual = ShiftedMoments.ReduceRuns<float>(x, 1, length, length);
            AssertBitIdentical(LaneModel.RunMoments(x.Select(v => (double)v).ToArray(), 0, 1, length, length), actual, $"length {length}");
        }
    }

    [Fact]
    public void ShiftedMoments_Double_EveryLength_MatchesTheLaneModelBitForBit()
    {
        foreach (int length in Lengths.Skip(1).Concat([2047, 2048, 2049, 4096 + 17]))
        {
            double[] x = Values(length, length, -50);
            AssertBitIdentical(LaneModel.RunMoments(x, 0, 1, length, length), ShiftedMoments.ReduceRuns<double>(x, 1, length, length), $"length {length}");
        }
    }

    [Fact]
    public void ShiftedMoments_SeveralStridedRuns_MatchTheLaneModel_AndIgnoreTheValuesBetweenRuns()
    {
        // Short runs grouped into chunks (more runs than one chunk holds for the short lengths), and long runs cut into chunks.
        foreach (int length in new[] { 1, 7, 16, 17, 31, 32, 33, 49, 196, 255, 3000 })
        {
            const int gap = 5;
            int runs = length < 100 ? 2048 / length + 3 : 3;
            double[] values = Values(runs * (length + gap), length, 10);
            for (int r = 0; r < runs; r++)
                for (int g = 0; g < gap && r < runs - 1; g++) values[r * (length + gap) + length + g] = g % 2 == 0 ? double.PositiveInfinity : double.NaN;
            int span = (runs - 1) * (length + gap) + length;
            float[] floats = values.Take(span).Select(v => (float)v).ToArray();
            double[] floatsAsDouble = floats.Select(v => (double)v).ToArray();
            AssertBitIdentical(LaneModel.RunMoments(floatsAsDouble, 0, runs, length + gap, length),
                               ShiftedMoments.ReduceRuns<float>(floats, runs, length + gap, length), $"float, length {length}");
            AssertBitIdentical(LaneModel.RunMoments(values, 0, runs, length + gap, length),
                               ShiftedMoments.ReduceRuns<double>(values.AsSpan(0, span), runs, length + gap, length), $"double, length {length}");
        }
    }

    [Fact]
    public void ShiftedMoments_Rows_EveryChannelCount_MatchesTheLaneModelBitForBit()
    {
        foreach (int rows in new[] { 1, 7, 8, 9, 128, 300, 2100 })
        foreach (int channels in Enumerable.Range(1, 70))
        {
            double[] values = Values(rows * channels, channels, 5);
            float[] floats = values.Select(v => (float)v).ToArray();
            double[] floatsAsDouble = floats.Select(v => (double)v).ToArray();
            double[] storage = new double[8 * channels];
            ShiftedMoments.ReduceRows<float>(floats, rows, new MomentSpans(storage.AsSpan(0, channels), storage.AsSpan(channels, channels),
                                                                           storage.AsSpan(2 * channels, channels), storage.AsSpan(3 * channels, channels)));
            ShiftedMoments.ReduceRows<double>(values, rows, new MomentSpans(storage.AsSpan(4 * channels, channels), storage.AsSpan(5 * channels, channels),
                                                                            storage.AsSpan(6 * channels, channels), storage.AsSpan(7 * channels, channels)));
            for (int c = 0; c < channels; c++)
            {
                AssertBitIdentical(LaneModel.RowMoments(floatsAsDouble, rows, channels, c),
                                   new Moments(storage[c], storage[channels + c], storage[2 * channels + c], storage[3 * channels + c]), $"float, {rows}x{channels}, channel {c}");
                AssertBitIdentical(LaneModel.RowMoments(values, rows, channels, c),
                                   new Moments(storage[4 * channels + c], storage[5 * channels + c], storage[6 * channels + c], storage[7 * channels + c]), $"double, {rows}x{channels}, channel {c}");
            }
        }
    }

    [Fact]
    public void ShiftedMoments_Merge_EveryGroupCount_MatchesTheLaneModelBitForBit()
    {
        foreach (int groups in Enumerable.Range(1, 40))
        {
            double[] a = Values(4 * groups, groups, 3), b = Values(4 * groups, groups + 1, -2);
            MomentSpans Spans(double[] v) => new(v.AsSpan(0, groups), v.AsSpan(groups, groups), v.AsSpan(2 * groups, groups), v.AsSpan(3 * groups, groups));
            var expected = new LaneModel.GroupMoments[groups];
            for (int g = 0; g < groups; g++)
            {
                Moments first = Spans(a)[g], second = Spans(b)[g];
                expected[g] = LaneModel.Merge(new(first.Sum, first.MeanHigh, first.MeanLow, first.M2), 1000, new(second.Sum, second.MeanHigh, second.MeanLow, second.M2), 24);
                AssertBitIdentical(expected[g], ShiftedMoments.Merge(first, 1000, second, 24), $"one group of {groups}");
            }

            ShiftedMoments.Merge(Spans(a), 1000, Spans(b), 24);
            for (int g = 0; g < groups; g++) AssertBitIdentical(expected[g], Spans(a)[g], $"group {g} of {groups}");
        }
    }

    [Fact]
    public void ShiftedMoments_MeanAndVariance_AccurateForLargeMeans()
    {
        // 1e8 + [-1, 3) in double: the chunk means keep the variance to near machine precision.
        double[] x = Values(10_000, 3, 1e8);
        (double mean, double varSum) = ShiftedMoments.MeanAndVarSum(ShiftedMoments.ReduceRuns<double>(x, 1, x.Length, x.Length), x.Length);
        (double exactMean, double exactVarSum) = Accuracy.ExactStatistics.Of(x);
        Assert.True(Math.Abs(mean - exactMean) <= 1e-15 * exactMean, $"{mean} vs {exactMean}");
        Assert.True(Math.Abs(varSum - exactVarSum) <= 1e-13 * exactVarSum, $"{varSum} vs {exactVarSum}");
    }

    [Fact]
    public void Transform_EveryLength_IsAFusedMultiplyAddPerElement_AlsoInPlace()
    {
        foreach (int length in Lengths)
        {
            float[] x = Values(length, length).Select(v => (float)v).ToArray();
            var y = new float[length];
            BatchNormTransform.ApplyRun<float>(x, y, 1.7f, -0.3f);
            float[] expected = x.Select(v => MathF.FusedMultiplyAdd(v, 1.7f, -0.3f)).ToArray();
            Assert.Equal(expected, y);
            BatchNormTransform.ApplyRun<float>(x, x, 1.7f, -0.3f);
            Assert.Equal(expected, x);

            double[] xd = Values(length, length + 1);
            var yd = new double[length];
            BatchNormTransform.ApplyRun<double>(xd, yd, 0.9, 2.5);
            Assert.Equal(xd.Select(v => Math.FusedMultiplyAdd(v, 0.9, 2.5)).ToArray(), yd);
        }
    }

    [Fact]
    public void TransformRows_EveryChannelCount_IsAFusedMultiplyAddPerElement()
    {
        foreach (int channels in Enumerable.Range(1, 40))
        {
            const int rows = 3;
            float[] x = Values(rows * channels, channels).Select(v => (float)v).ToArray();
            float[] alpha = Values(channels, 1).Select(v => (float)v).ToArray(), beta = Values(channels, 2).Select(v => (float)v).ToArray();
            var y = new float[x.Length];
            BatchNormTransform.ApplyRows<float>(x, y, rows, alpha, beta);
            Assert.Equal(x.Select((v, i) => MathF.FusedMultiplyAdd(v, alpha[i % channels], beta[i % channels])).ToArray(), y);
        }
    }

    [Fact]
    public void BackwardSums_EveryLength_MatchTheLaneModelBitForBit()
    {
        foreach (int length in Lengths)
        {
            double[] xs = Values(length, length, 3), gs = Values(length, length + 7);
            foreach (bool single in new[] { true, false })
            {
                var sum = new double[16];
                var dot = new double[16];
                double[] x = single ? xs.Select(v => (double)(float)v).ToArray() : xs;
                double[] g = single ? gs.Select(v => (double)(float)v).ToArray() : gs;
                if (single) BatchNormBackward.ReduceRun<float>(x.Select(v => (float)v).ToArray(), g.Select(v => (float)v).ToArray(), 3.25, sum, dot);
                else BatchNormBackward.ReduceRun<double>(x, g, 3.25, sum, dot);
                var (expectedSum, expectedDot) = LaneModel.BackwardSums(x, g, 3.25);
                Assert.Equal(expectedSum, sum);
                Assert.Equal(expectedDot, dot);
            }
        }
    }

    [Fact]
    public void BackwardSumsRows_EveryChannelCount_MatchTheScalarOrderBitForBit()
    {
        foreach (int rows in new[] { 5, 300 })
        foreach (int channels in Enumerable.Range(1, 40))
        {
            float[] x = Values(rows * channels, channels, 2).Select(v => (float)v).ToArray(), dy = Values(rows * channels, channels + 9).Select(v => (float)v).ToArray();
            double[] mean = Values(channels, 3, 2);
            var sum = new double[channels];
            var dot = new double[channels];
            BatchNormBackward.ReduceRows<float>(x, dy, rows, mean, sum, dot);
            double[] xd = x.Select(v => (double)v).ToArray(), gd = dy.Select(v => (double)v).ToArray();
            var sumD = new double[channels];
            var dotD = new double[channels];
            BatchNormBackward.ReduceRows<double>(xd, gd, rows, mean, sumD, dotD);
            for (int c = 0; c < channels; c++)
            {
                double s = 0, d = 0;
                for (int r = 0; r < rows; r++)
                {
                    s += dy[r * channels + c];
                    d += (x[r * channels + c] - mean[c]) * (double)dy[r * channels + c];
                }
                Assert.Equal(s, sum[c]);
                Assert.Equal(d, dot[c]);
                Assert.Equal(s, sumD[c]);
                Assert.Equal(d, dotD[c]);
            }
        }
    }

    [Fact]
    public void BackwardSums_SeveralStridedRuns_MatchRunByRunBitForBit()
    {
        foreach (int length in new[] { 1, 7, 16, 17, 49, 196 })
        {
            const int runs = 4, gap = 3;
            float[] x = Values(runs * (length + gap), length, 2).Select(v => (float)v).ToArray();
            float[] dy = Values(runs * (length + gap), length + 1).Select(v => (float)v).ToArray();
            x[length] = float.PositiveInfinity; // data just past a run must not leak in, even when it is not finite
            var sum = new double[16];
            var dot = new double[16];
            BatchNormBackward.ReduceRuns(x, dy, runs, length + gap, length, 1.5, sum, dot);
            var expectedSum = new double[16];
            var expectedDot = new double[16];
            for (int r = 0; r < runs; r++)
                BatchNormBackward.ReduceRun<float>(x.AsSpan(r * (length + gap), length), dy.AsSpan(r * (length + gap), length), 1.5, expectedSum, expectedDot);
            Assert.Equal(expectedSum, sum);
            Assert.Equal(expectedDot, dot);
        }
    }

    [Fact]
    public void InputGradient_EveryLength_MatchesTheScalarFormulaBitForBit()
    {
        foreach (int length in Lengths)
        {
            float[] x = Values(length, length).Select(v => (float)v).ToArray(), dy = Values(length, length + 3).Select(v => (float)v).ToArray();
            var dx = new float[length];
            BatchNormBackward.InputGradientRun<float>(x, dy, dx, 0.5f, 0.125f, 0.75f, 1.5f, batchStatistics: true);
            Assert.Equal(x.Select((v, i) => (dy[i] - 0.125f - (v - 0.5f) * 0.75f) * 1.5f).ToArray(), dx);
            BatchNormBackward.InputGradientRun<float>(x, dy, dx, 0.5f, 0.125f, 0.75f, 1.5f, batchStatistics: false);
            Assert.Equal(dy.Select(g => g * 1.5f).ToArray(), dx);
        }
    }

    [Fact]
    public void InputGradientRows_EveryChannelCount_MatchesTheScalarFormulaBitForBit()
    {
        foreach (int channels in Enumerable.Range(1, 40))
        {
            const int rows = 3;
            double[] x = Values(rows * channels, channels), dy = Values(rows * channels, channels + 1);
            double[] mean = Values(channels, 1), gm = Values(channels, 2), k = Values(channels, 3), scale = Values(channels, 4);
            var dx = new double[x.Length];
            BatchNormBackward.InputGradientRows<double>(x, dy, dx, rows, mean, gm, k, scale, batchStatistics: true);
            Assert.Equal(x.Select((v, i) => (dy[i] - gm[i % channels] - (v - mean[i % channels]) * k[i % channels]) * scale[i % channels]).ToArray(), dx);
        }
    }
}
