using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// The backward kernels against <see cref="LaneModel"/> and the scalar formulas bit for bit: the two sums over runs of every
/// length and over strided runs, over rows of every channel count; the input gradient at every length and channel count,
/// with batch and with running statistics. .ci/run repeats them on each instruction-set path.
/// </summary>
public class BatchNormBackwardTests
{
    [Fact]
    public void ReduceRuns_EveryLength_MatchesTheLaneModelBitForBit()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int length in Lengths.Skip(1))
            {
                T[] x = Values<T>(length, length, 3), dy = Values<T>(length, length + 7);
                (double sumDy, double dotP) = BatchNormBackward.ReduceRuns<T>(x, dy, 1, length, length, 3.25);
                (double expectedSumDy, double expectedDotP) = LaneModel.BackwardSums(Widened(x), Widened(dy), 0, 1, length, length, 3.25);
                AssertSameBits(expectedSumDy, sumDy, $"{typeof(T).Name}, length {length}, Σdy");
                AssertSameBits(expectedDotP, dotP, $"{typeof(T).Name}, length {length}, Σ(x - mean)·dy");
            }
        }
    }

    [Fact]
    public void ReduceRuns_SeveralStridedRuns_MatchTheLaneModel_AndIgnoreTheValuesBetweenRuns()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int length in new[] { 1, 7, 16, 17, 31, 32, 33, 49, 196, 255, 3000 })
            {
                const int gap = 3;
                int runs = length < 100 ? 2048 / length + 3 : 3, stride = length + gap, span = (runs - 1) * stride + length;
                T[] x = Values<T>(span, length, 2), dy = Values<T>(span, length + 1);
                // Data between the runs must not leak in, even when it is not finite.
                for (int r = 0; r < runs - 1; r++)
                    for (int g = 0; g < gap; g++) (x[r * stride + length + g], dy[r * stride + length + g]) = (T.PositiveInfinity, T.NaN);
                (double sumDy, double dotP) = BatchNormBackward.ReduceRuns<T>(x, dy, runs, stride, length, 1.5);
                (double expectedSumDy, double expectedDotP) = LaneModel.BackwardSums(Widened(x), Widened(dy), 0, runs, stride, length, 1.5);
                AssertSameBits(expectedSumDy, sumDy, $"{typeof(T).Name}, length {length}, Σdy");
                AssertSameBits(expectedDotP, dotP, $"{typeof(T).Name}, length {length}, Σ(x - mean)·dy");
            }
        }
    }

    [Fact]
    public void ReduceRows_EveryChannelCount_MatchesTheRowOrderBitForBit()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            IEnumerable<(int Rows, int Channels)> shapes =
                from rows in new[] { 1, 5, 9, 300 } from channels in ChannelCounts select (rows, channels);
            shapes = shapes.Concat(from channels in Enumerable.Range(1, 70) select (2100, channels));
            foreach ((int rows, int channels) in shapes)
            {
                T[] x = Values<T>(rows * channels, channels, 2), dy = Values<T>(rows * channels, channels + 9);
                double[] mean = Values<double>(channels, 3, 2);
                foreach (bool prefetch in new[] { false, true })
                {
                    var sumDy = new double[channels];
                    var dotP = new double[channels];
                    BatchNormBackward.ReduceRows<T>(x, dy, rows, mean, sumDy, dotP, prefetch);
                    double[] xd = Widened(x), dyd = Widened(dy);
                    for (int c = 0; c < channels; c++)
                    {
                        (double expectedSumDy, double expectedDotP) = LaneModel.RowBackwardSums(xd, dyd, rows, channels, c, mean[c]);
                        AssertSameBits(expectedSumDy, sumDy[c], $"{typeof(T).Name}, {rows}x{channels}, channel {c}, Σdy, prefetch {prefetch}");
                        AssertSameBits(expectedDotP, dotP[c], $"{typeof(T).Name}, {rows}x{channels}, channel {c}, Σ(x - mean)·dy, prefetch {prefetch}");
                    }
                }
            }
        }
    }

    [Fact]
    public void InputGradientRun_EveryLength_MatchesTheScalarFormulaBitForBit_AlsoIntoDy()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            T mean = T.CreateTruncating(0.5), gradMean = T.CreateTruncating(0.125), k = T.CreateTruncating(0.7), scale = T.CreateTruncating(1.3);
            foreach (int length in Lengths)
            {
                T[] x = Values<T>(length, length), dy = Values<T>(length, length + 3);
                T[] batch = x.Select((v, i) => (dy[i] - gradMean - (v - mean) * k) * scale).ToArray();
                T[] running = dy.Select(g => g * scale).ToArray();
                var dx = new T[length];
                BatchNormBackward.InputGradientRun<T>(x, dy, dx, mean, gradMean, k, scale, batchStatistics: true);
                AssertSameBits<T>(batch, dx, $"{typeof(T).Name}, length {length}, batch statistics");
                BatchNormBackward.InputGradientRun<T>(x, dy, dx, mean, gradMean, k, scale, batchStatistics: false);
                AssertSameBits<T>(running, dx, $"{typeof(T).Name}, length {length}, running statistics");
                T[] inPlace = (T[])dy.Clone();
                BatchNormBackward.InputGradientRun<T>(x, inPlace, inPlace, mean, gradMean, k, scale, batchStatistics: true);
                AssertSameBits<T>(batch, inPlace, $"{typeof(T).Name}, length {length}, batch statistics into dy");
            }
        }
    }

    [Fact]
    public void InputGradientRows_EveryChannelCount_MatchesTheScalarFormulaBitForBit()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int channels in ChannelCounts)
            {
                const int rows = 3;
                T[] x = Values<T>(rows * channels, channels), dy = Values<T>(rows * channels, channels + 1);
                T[] mean = Values<T>(channels, 1), gradMean = Values<T>(channels, 2), k = Values<T>(channels, 3), scale = Values<T>(channels, 4);
                var dx = new T[x.Length];
                BatchNormBackward.InputGradientRows<T>(x, dy, dx, rows, mean, gradMean, k, scale, batchStatistics: true);
                T[] expected = x.Select((v, i) => (dy[i] - gradMean[i % channels] - (v - mean[i % channels]) * k[i % channels]) * scale[i % channels]).ToArray();
                AssertSameBits<T>(expected, dx, $"{typeof(T).Name}, {channels} channels, batch statistics");
                BatchNormBackward.InputGradientRows<T>(x, dy, dx, rows, mean, gradMean, k, scale, batchStatistics: false);
                AssertSameBits<T>(dy.Select((g, i) => g * scale[i % channels]).ToArray(), dx, $"{typeof(T).Name}, {channels} channels, running statistics");
            }
        }
    }
}
