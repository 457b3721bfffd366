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

    [Fact]
    public void ShiftedMoments_Float_EveryLength_MatchesTheLaneModelBitForBit()
    {
        foreach (int length in Lengths)
        {
            float[] x = Values(length, length, 1e3).Select(v => (float)v).ToArray();
            double shift = length > 0 ? x[0] : 0;
            var sum = new double[16];
            var squares = new double[16];
            ShiftedMoments.AccumulateRun(x, shift, sum, squares);
            var (expectedSum, expectedSquares) = LaneModel.Moments(x.Select(v => (double)v).ToArray(), shift);
            Assert.Equal(expectedSum, sum);
            Assert.Equal(expectedSquares, squares);
        }
    }

    [Fact]
    public void ShiftedMoments_Double_EveryLength_MatchesTheLaneModelBitForBit()
    {
        foreach (int length in Lengths)
        {
            double[] x = Values(length, length, -50);
            double shift = length > 0 ? x[0] : 0;
            var sum = new double[16];
            var squares = new double[16];
            ShiftedMoments.AccumulateRun(x, shift, sum, squares);
            var (expectedSum, expectedSquares) = LaneModel.Moments(x, shift);
            Assert.Equal(expectedSum, sum);
            Assert.Equal(expectedSquares, squares);
        }
    }

    [Fact]
    public void ShiftedMoments_SeveralStridedRuns_EachRunStartsAtLaneZero()
    {
        foreach (int length in new[] { 1, 7, 16, 17, 49, 196 })
        {
            const int runs = 3, gap = 5;
            float[] x = Values(runs * (length + gap), length, 10).Select(v => (float)v).ToArray();
            var sum = new double[16];
            var squares = new double[16];
            ShiftedMoments.AccumulateRuns(x, runs, length + gap, length, x[0], sum, squares);
            var expectedSum = new double[16];
            var expectedSquares = new double[16];
            for (int r = 0; r < runs; r++)
                for (int i = 0; i < length; i++)
                {
                    double d = x[r * (length + gap) + i] - (double)x[0];
                    expectedSum[i % 16] += d;
                    expectedSquares[i % 16] += d * d;
                }
            Assert.Equal(expectedSum, sum);
            Assert.Equal(expectedSquares, squares);
        }
    }

    [Fact]
    public void ShiftedMoments_MeanAndVariance_AccurateForLargeMeans()
    {
        // 1e4 ± 1 in double: the shifted sums keep the variance to near machine precision.
        double[] x = Values(10_000, 3, 1e4);
        var sum = new double[16];
        var squares = new double[16];
        ShiftedMoments.AccumulateRun(x, x[0], sum, squares);
        var (mean, varSum) = ShiftedMoments.MeanAndVarSum(x[0], ShiftedMoments.SumLanes(sum), ShiftedMoments.SumLanes(squares), 1.0 / x.Length);
        double exactMean = x.Average();
        double exactVarSum = x.Sum(v => (v - exactMean) * (v - exactMean));
        Assert.True(Math.Abs(mean - exactMean) <= 1e-14 * exactMean, $"{mean} vs {exactMean}");
        Assert.True(Math.Abs(varSum - exactVarSum) <= 1e-10 * exactVarSum, $"{varSum} vs {exactVarSum}");
    }

    [Fact]
    public void ShiftedMoments_Rows_EveryChannelCount_MatchesScalarBitForBit()
    {
        foreach (int rows in new[] { 7, 300 })
        foreach (int channels in Enumerable.Range(1, 40))
        {
            float[] x = Values(rows * channels, channels, 5).Select(v => (float)v).ToArray();
            double[] shift = x.Take(channels).Select(v => (double)v).ToArray();
            var sum = new double[channels];
            var squares = new double[channels];
            ShiftedMoments.AccumulateRows(x, rows, shift, sum, squares);
            for (int c = 0; c < channels; c++)
            {
                double s = 0, q = 0;
                for (int r = 0; r < rows; r++)
                {
                    double d = x[r * channels + c] - shift[c];
                    s += d;
                    q += d * d;
                }
                Assert.Equal(s, sum[c]);
                Assert.Equal(q, squares[c]);
            }
        }
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
