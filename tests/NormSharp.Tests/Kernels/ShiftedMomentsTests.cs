using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// The statistics kernel against <see cref="LaneModel"/> bit for bit: runs of every length, strided runs, rows of every
/// channel count, merges of every group count. .ci/run repeats these tests on each instruction-set path (Vector512 off,
/// Vector256 off, every vector off), so each width must give the model's bits.
/// </summary>
public class ShiftedMomentsTests
{
    private static void AssertSameMoments(LaneModel.GroupMoments expected, Moments actual, string context)
    {
        AssertSameBits(expected.Sum, actual.Sum, $"{context}, Σx");
        AssertSameBits(expected.High, actual.MeanHigh, $"{context}, mean (high)");
        AssertSameBits(expected.Low, actual.MeanLow, $"{context}, mean (low)");
        AssertSameBits(expected.M2, actual.M2, $"{context}, M2");
    }

    [Fact]
    public void ReduceRuns_EveryLength_MatchesTheLaneModelBitForBit()
    {
        Check<float>(1e3);
        Check<double>(-50);

        static void Check<T>(double offset) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int length in Lengths.Skip(1))
            {
                T[] x = Values<T>(length, length, offset);
                AssertSameMoments(LaneModel.RunMoments(Widened(x), 0, 1, length, length), ShiftedMoments.ReduceRuns<T>(x, 1, length, length),
                                  $"{typeof(T).Name}, length {length}");
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
            // Short runs grouped into chunks (more runs than one chunk holds for the short lengths), and long runs cut into chunks.
            foreach (int length in new[] { 1, 7, 16, 17, 31, 32, 33, 49, 196, 255, 3000 })
            {
                const int gap = 5;
                int runs = length < 100 ? 2048 / length + 3 : 3, stride = length + gap, span = (runs - 1) * stride + length;
                T[] x = Values<T>(span, length, 10);
                for (int r = 0; r < runs - 1; r++)
                    for (int g = 0; g < gap; g++) x[r * stride + length + g] = g % 2 == 0 ? T.PositiveInfinity : T.NaN;
                AssertSameMoments(LaneModel.RunMoments(Widened(x), 0, runs, stride, length), ShiftedMoments.ReduceRuns<T>(x, runs, stride, length),
                                  $"{typeof(T).Name}, length {length}");
            }
        }
    }

    [Fact]
    public void ReduceRows_EveryChannelCount_MatchesTheLaneModelBitForBit()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            IEnumerable<(int Rows, int Channels)> shapes =
                from rows in new[] { 1, 7, 9, 300 } from channels in ChannelCounts select (rows, channels);
            shapes = shapes.Concat(from rows in new[] { 8, 128, 2100 } from channels in Enumerable.Range(1, 70) select (rows, channels));
            foreach ((int rows, int channels) in shapes)
            {
                T[] x = Values<T>(rows * channels, channels, 5);
                double[] storage = new double[4 * channels];
                ShiftedMoments.ReduceRows<T>(x, rows, new MomentSpans(storage.AsSpan(0, channels), storage.AsSpan(channels, channels),
                                                                      storage.AsSpan(2 * channels, channels), storage.AsSpan(3 * channels, channels)));
                double[] widened = Widened(x);
                for (int c = 0; c < channels; c++)
                    AssertSameMoments(LaneModel.RowMoments(widened, rows, channels, c),
                                      new Moments(storage[c], storage[channels + c], storage[2 * channels + c], storage[3 * channels + c]),
                                      $"{typeof(T).Name}, {rows}x{channels}, channel {c}");
            }
        }
    }

    [Fact]
    public void Merge_EveryGroupCount_MatchesTheLaneModelBitForBit()
    {
        foreach (int groups in Enumerable.Range(1, 70))
        {
            double[] a = Values<double>(4 * groups, groups, 3), b = Values<double>(4 * groups, groups + 1, -2);
            MomentSpans Spans(double[] v) => new(v.AsSpan(0, groups), v.AsSpan(groups, groups), v.AsSpan(2 * groups, groups), v.AsSpan(3 * groups, groups));
            var expected = new LaneModel.GroupMoments[groups];
            for (int g = 0; g < groups; g++)
            {
                Moments first = Spans(a)[g], second = Spans(b)[g];
                expected[g] = LaneModel.Merge(new(first.Sum, first.MeanHigh, first.MeanLow, first.M2), 1000, new(second.Sum, second.MeanHigh, second.MeanLow, second.M2), 24);
                AssertSameMoments(expected[g], ShiftedMoments.Merge(first, 1000, second, 24), $"one group of {groups}");
            }

            ShiftedMoments.Merge(Spans(a), 1000, Spans(b), 24);
            for (int g = 0; g < groups; g++) AssertSameMoments(expected[g], Spans(a)[g], $"group {g} of {groups}");
        }
    }

    [Fact]
    public void MeanAndVariance_AccurateForLargeMeans()
    {
        // 1e8 + [-1, 3) in double: the chunk means keep the variance to near machine precision.
        double[] x = Values<double>(10_000, 3, 1e8);
        (double mean, double varSum) = ShiftedMoments.MeanAndVarSum(ShiftedMoments.ReduceRuns<double>(x, 1, x.Length, x.Length), x.Length);
        (double exactMean, double exactVarSum) = Accuracy.ExactStatistics.Of(x);
        Assert.True(Math.Abs(mean - exactMean) <= 1e-15 * exactMean, $"{mean} vs {exactMean}");
        Assert.True(Math.Abs(varSum - exactVarSum) <= 1e-13 * exactVarSum, $"{varSum} vs {exactVarSum}");
    }
}
