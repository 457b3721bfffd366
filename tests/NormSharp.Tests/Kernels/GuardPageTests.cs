using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// Every kernel, float and double, over lengths (and channel counts) 1..130 with each of its spans in its own
/// <see cref="GuardedMemory"/>, placed to end exactly at an inaccessible page, then to start exactly after one: a read or
/// write one value outside a span faults and crashes the test host, so a passing run proves that no vector load, tail
/// or overlapping last register reaches past the data it was given. Each result is also compared bit for bit with
/// the same kernel on ordinary arrays. .ci/run repeats these tests on each instruction-set path, whose tails differ.
/// </summary>
public sealed class GuardPageTests : IDisposable
{
    private const int MaxLength = 130, Rows = 5, Gap = 3;

    private readonly GuardedMemory[] memory = Enumerable.Range(0, 10).Select(_ => new GuardedMemory()).ToArray();

    public void Dispose()
    {
        foreach (GuardedMemory m in memory) m.Dispose();
    }

    private static IEnumerable<(int Length, bool AtStart)> Placements =>
        from atStart in new[] { false, true } from length in Enumerable.Range(1, MaxLength) select (length, atStart);

    [LinuxFact]
    public void GuardPages_AroundTheData_AreInaccessible()
    {
        GuardedMemory m = memory[0];
        Assert.Equal("---p", GuardedMemory.PermissionsAt(m.DataStart - 1));
        Assert.Equal("rw-p", GuardedMemory.PermissionsAt(m.DataStart));
        Assert.Equal("rw-p", GuardedMemory.PermissionsAt(m.GuardAfter - 1));
        Assert.Equal("---p", GuardedMemory.PermissionsAt(m.GuardAfter));
        Assert.True(m.Place<double>(Rows * (MaxLength + Gap), atStart: false).Length > 0, "the largest span must fit between the guards");
    }

    [LinuxFact]
    public void Statistics_StayInsideTheirSpans()
    {
        Statistics<float>();
        Statistics<double>();
    }

    [LinuxFact]
    public void BackwardSums_StayInsideTheirSpans()
    {
        BackwardSums<float>();
        BackwardSums<double>();
    }

    [LinuxFact]
    public void Transform_StaysInsideItsSpans()
    {
        Transform<float>();
        Transform<double>();
    }

    [LinuxFact]
    public void InputGradient_StaysInsideItsSpans()
    {
        InputGradient<float>();
        InputGradient<double>();
    }

    private void Statistics<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach ((int n, bool atStart) in Placements)
        {
            string context = $"{typeof(T).Name}, length {n}, {(atStart ? "after" : "before")} a guard";
            T[] values = Values<T>(Rows * (n + Gap), n, 2);

            // One run, then three runs Gap apart (the values between them are another channel's).
            Span<T> x = memory[0].Place<T>(n, atStart, values);
            AssertSameMoments(ShiftedMoments.ReduceRuns<T>(values.AsSpan(0, n), 1, n, n), ShiftedMoments.ReduceRuns<T>(x, 1, n, n), context);
            int stride = n + Gap, span = (Rows - 1) * stride + n;
            x = memory[0].Place<T>(span, atStart, values);
            AssertSameMoments(ShiftedMoments.ReduceRuns<T>(values.AsSpan(0, span), Rows, stride, n), ShiftedMoments.ReduceRuns<T>(x, Rows, stride, n), context);

            // Rows of n channels, the moments written to guarded spans, then merged with guarded partials.
            x = memory[0].Place<T>(Rows * n, atStart, values);
            MomentSpans item = Moments(1, n, atStart), part = Moments(5, n, atStart);
            var expected = new double[4 * n];
            MomentSpans expectedItem = new(expected.AsSpan(0, n), expected.AsSpan(n, n), expected.AsSpan(2 * n, n), expected.AsSpan(3 * n, n));
            ShiftedMoments.ReduceRows<T>(values.AsSpan(0, Rows * n), Rows, expectedItem);
            ShiftedMoments.ReduceRows<T>(x, Rows, item);
            for (int c = 0; c < n; c++) AssertSameMoments(expectedItem[c], item[c], $"{context}, rows, channel {c}");
            item.CopyTo(part);
            ShiftedMoments.Merge(expectedItem, Rows, expectedItem, Rows);
            ShiftedMoments.Merge(item, Rows, part, Rows);
            for (int c = 0; c < n; c++) AssertSameMoments(expectedItem[c], item[c], $"{context}, merge, group {c}");
        }
    }

    private void BackwardSums<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach ((int n, bool atStart) in Placements)
        {
            string context = $"{typeof(T).Name}, length {n}, {(atStart ? "after" : "before")} a guard";
            T[] xs = Values<T>(Rows * (n + Gap), n, 2), dys = Values<T>(Rows * (n + Gap), n + 1);

            Span<T> x = memory[0].Place<T>(n, atStart, xs), dy = memory[1].Place<T>(n, atStart, dys);
            AssertSamePair(BatchNormBackward.ReduceRuns<T>(xs.AsSpan(0, n), dys.AsSpan(0, n), 1, n, n, 1.5),
                           BatchNormBackward.ReduceRuns<T>(x, dy, 1, n, n, 1.5), context);
            int stride = n + Gap, span = (Rows - 1) * stride + n;
            x = memory[0].Place<T>(span, atStart, xs);
            dy = memory[1].Place<T>(span, atStart, dys);
            AssertSamePair(BatchNormBackward.ReduceRuns<T>(xs.AsSpan(0, span), dys.AsSpan(0, span), Rows, stride, n, 1.5),
                           BatchNormBackward.ReduceRuns<T>(x, dy, Rows, stride, n, 1.5), $"{context}, strided runs");

            x = memory[0].Place<T>(Rows * n, atStart, xs);
            dy = memory[1].Place<T>(Rows * n, atStart, dys);
            double[] means = Values<double>(n, n + 2, 2);
            Span<double> mean = memory[2].Place<double>(n, atStart, means), sumDy = memory[3].Place<double>(n, atStart), dotP = memory[4].Place<double>(n, atStart);
            sumDy.Clear();
            dotP.Clear();
            var expectedSumDy = new double[n];
            var expectedDotP = new double[n];
            BatchNormBackward.ReduceRows<T>(xs.AsSpan(0, Rows * n), dys.AsSpan(0, Rows * n), Rows, means, expectedSumDy, expectedDotP);
            BatchNormBackward.ReduceRows<T>(x, dy, Rows, mean, sumDy, dotP);
            AssertSameBits<double>(expectedSumDy, sumDy, $"{context}, rows, Σdy");
            AssertSameBits<double>(expectedDotP, dotP, $"{context}, rows, Σ(x - mean)·dy");
        }
    }

    private void Transform<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        T centre = T.CreateTruncating(0.75), alpha = T.CreateTruncating(1.25), beta = T.CreateTruncating(-0.5);
        foreach ((int n, bool atStart) in Placements)
        {
            string context = $"{typeof(T).Name}, length {n}, {(atStart ? "after" : "before")} a guard";
            T[] xs = Values<T>(Rows * n, n), centres = Values<T>(n, n + 3), alphas = Values<T>(n, n + 1), betas = Values<T>(n, n + 2);

            var expected = new T[Rows * n];
            BatchNormTransform.ApplyRun<T>(xs.AsSpan(0, n), expected.AsSpan(0, n), centre, alpha, beta);
            Span<T> x = memory[0].Place<T>(n, atStart, xs), y = memory[1].Place<T>(n, atStart);
            BatchNormTransform.ApplyRun<T>(x, y, centre, alpha, beta);
            AssertSameBits<T>(expected.AsSpan(0, n), y, context);
            BatchNormTransform.ApplyRun<T>(x, x, centre, alpha, beta);
            AssertSameBits<T>(expected.AsSpan(0, n), x, $"{context}, in place");

            BatchNormTransform.ApplyRows<T>(xs, expected, Rows, centres, alphas, betas);
            x = memory[0].Place<T>(Rows * n, atStart, xs);
            y = memory[1].Place<T>(Rows * n, atStart);
            Span<T> a = memory[2].Place<T>(n, atStart, alphas), b = memory[3].Place<T>(n, atStart, betas), m = memory[4].Place<T>(n, atStart, centres);
            BatchNormTransform.ApplyRows<T>(x, y, Rows, m, a, b);
            AssertSameBits<T>(expected, y, $"{context}, rows");
            BatchNormTransform.ApplyRows<T>(x, x, Rows, m, a, b);
            AssertSameBits<T>(expected, x, $"{context}, rows in place");
        }
    }

    private void InputGradient<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        T mean = T.CreateTruncating(0.5), gradMean = T.CreateTruncating(0.125), k = T.CreateTruncating(0.75), scale = T.CreateTruncating(1.5);
        foreach ((int n, bool atStart) in Placements)
        foreach (bool batchStatistics in new[] { true, false })
        {
            string context = $"{typeof(T).Name}, length {n}, {(atStart ? "after" : "before")} a guard, batch statistics {batchStatistics}";
            T[] xs = Values<T>(Rows * n, n), dys = Values<T>(Rows * n, n + 1);
            T[][] perChannel = [.. Enumerable.Range(2, 4).Select(seed => Values<T>(n, n + seed))];

            var expected = new T[Rows * n];
            BatchNormBackward.InputGradientRun<T>(xs.AsSpan(0, n), dys.AsSpan(0, n), expected.AsSpan(0, n), mean, gradMean, k, scale, batchStatistics);
            Span<T> x = memory[0].Place<T>(n, atStart, xs), dy = memory[1].Place<T>(n, atStart, dys), dx = memory[2].Place<T>(n, atStart);
            BatchNormBackward.InputGradientRun<T>(x, dy, dx, mean, gradMean, k, scale, batchStatistics);
            AssertSameBits<T>(expected.AsSpan(0, n), dx, context);
            BatchNormBackward.InputGradientRun<T>(x, dy, dy, mean, gradMean, k, scale, batchStatistics);
            AssertSameBits<T>(expected.AsSpan(0, n), dy, $"{context}, into dy");

            BatchNormBackward.InputGradientRows<T>(xs, dys, expected, Rows, perChannel[0], perChannel[1], perChannel[2], perChannel[3], batchStatistics);
            x = memory[0].Place<T>(Rows * n, atStart, xs);
            dy = memory[1].Place<T>(Rows * n, atStart, dys);
            dx = memory[2].Place<T>(Rows * n, atStart);
            Span<T> means = memory[3].Place<T>(n, atStart, perChannel[0]), gradMeans = memory[4].Place<T>(n, atStart, perChannel[1]);
            Span<T> ks = memory[5].Place<T>(n, atStart, perChannel[2]), scales = memory[6].Place<T>(n, atStart, perChannel[3]);
            BatchNormBackward.InputGradientRows<T>(x, dy, dx, Rows, means, gradMeans, ks, scales, batchStatistics);
            AssertSameBits<T>(expected, dx, $"{context}, rows");
            BatchNormBackward.InputGradientRows<T>(x, dy, dy, Rows, means, gradMeans, ks, scales, batchStatistics);
            AssertSameBits<T>(expected, dy, $"{context}, rows into dy");
        }
    }

    private MomentSpans Moments(int firstMemory, int length, bool atStart) =>
        new(memory[firstMemory].Place<double>(length, atStart), memory[firstMemory + 1].Place<double>(length, atStart),
            memory[firstMemory + 2].Place<double>(length, atStart), memory[firstMemory + 3].Place<double>(length, atStart));

    private static void AssertSameMoments(Moments expected, Moments actual, string context)
    {
        AssertSameBits(expected.Sum, actual.Sum, $"{context}, Σx");
        AssertSameBits(expected.MeanHigh, actual.MeanHigh, $"{context}, mean (high)");
        AssertSameBits(expected.MeanLow, actual.MeanLow, $"{context}, mean (low)");
        AssertSameBits(expected.M2, actual.M2, $"{context}, M2");
    }

    private static void AssertSamePair((double, double) expected, (double, double) actual, string context)
    {
        AssertSameBits(expected.Item1, actual.Item1, $"{context}, Σdy");
        AssertSameBits(expected.Item2, actual.Item2, $"{context}, Σ(x - mean)·dy");
    }
}
