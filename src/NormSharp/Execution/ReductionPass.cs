using System.Runtime.CompilerServices;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>
/// One work item of the statistics pass (forward) and of the reduction pass (backward), for any element type the kernels
/// read: the float and double executors and the 16-bit (mixed-precision) executors run these same items, so the two
/// cannot cut the work or combine the partial sums differently.
/// </summary>
internal static unsafe class ReductionPass
{
    /// <summary>
    /// Forward, item <paramref name="index"/> of <paramref name="layout"/>'s statistics pass: per-channel moments of a block of
    /// rows (rows layout), the moments of one channel over a block of samples (small planes), or each plane's moments of a
    /// block of planes, into <paramref name="partials"/> (<paramref name="partialCount"/> slots).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // into each executor's work item, as it was written there before
    public static void Moments<TElement>(NormLayout layout, TElement* x, double* partials, int partialCount, int index)
        where TElement : unmanaged
    {
        NormLayout l = layout;
        MomentSpans spans = MomentSpans.Over(partials, partialCount);
        if (l.IsRows)
        {
            // A block of rows: each channel's moments over them.
            (int first, int rows) = l.RowBlock(index);
            ShiftedMoments.ReduceRows(new ReadOnlySpan<TElement>(x + (long)first * l.Channels, rows * l.Channels), rows,
                                      spans.Slice(index * l.Channels, l.Channels));
            return;
        }

        if (!l.ReducesPlaneByPlane)
        {
            // Small planes: one channel over a block of samples, its planes strided runs.
            (int channel, int firstSample, int lastSample) = l.SampleBlock(index);
            long begin = ((long)firstSample * l.Channels + channel) * l.Spatial;
            int runs = lastSample - firstSample, stride = l.Channels * l.Spatial;
            int span = (runs - 1) * stride + l.Spatial;
            spans.Set(index, ShiftedMoments.ReduceRuns(new ReadOnlySpan<TElement>(x + begin, span), runs, stride, l.Spatial));
            return;
        }

        // Large planes in memory order: each plane's moments (the span runs on to the block's end, so that the kernel
        // fetches the next plane into the cache while it finishes this one).
        (int firstPlane, int lastPlane) = l.PlaneBlock(index);
        for (int p = firstPlane; p < lastPlane; p++)
        {
            var rest = new ReadOnlySpan<TElement>(x + (long)p * l.Spatial, (lastPlane - p) * l.Spatial);
            spans.Set(p, ShiftedMoments.ReduceRuns(rest, 1, l.Spatial, l.Spatial));
        }
    }

    /// <summary>
    /// Backward, item <paramref name="index"/> of <paramref name="layout"/>'s reduction pass: Σdy and Σdy·(x - mean) per
    /// channel of a block of rows (2C values at index·2C), of one channel over a block of samples, or of each plane of a
    /// block of planes (two values per slot), into <paramref name="partials"/>. <paramref name="prefetch"/>: the rows kernel
    /// asks for its next chunk ahead (input from memory; the same values either way).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GradientSums<TElement>(NormLayout layout, TElement* x, TElement* dy, double* mean, double* partials, int index, bool prefetch)
        where TElement : unmanaged
    {
        NormLayout l = layout;
        int channels = l.Channels;
        if (l.IsRows)
        {
            double* partial = partials + (long)index * 2 * channels;
            (int first, int rows) = l.RowBlock(index);
            long offset = (long)first * channels;
            BatchNormBackward.ReduceRows(new ReadOnlySpan<TElement>(x + offset, rows * channels), new ReadOnlySpan<TElement>(dy + offset, rows * channels), rows,
                                         new ReadOnlySpan<double>(mean, channels), new Span<double>(partial, channels), new Span<double>(partial + channels, channels),
                                         prefetch);
            return;
        }

        if (!l.ReducesPlaneByPlane)
        {
            // Small planes: one channel over a block of samples, its planes strided runs.
            (int channel, int firstSample, int lastSample) = l.SampleBlock(index);
            long begin = ((long)firstSample * channels + channel) * l.Spatial;
            int runs = lastSample - firstSample, stride = channels * l.Spatial, span = (runs - 1) * stride + l.Spatial;
            (partials[2 * index], partials[2 * index + 1]) = BatchNormBackward.ReduceRuns(
                new ReadOnlySpan<TElement>(x + begin, span), new ReadOnlySpan<TElement>(dy + begin, span), runs, stride, l.Spatial, mean[channel]);
            return;
        }

        // Large planes in memory order: each plane's two sums (the spans run on to the block's end, so that the kernel reads
        // a plane's last values in place rather than copying them).
        (int firstPlane, int lastPlane) = l.PlaneBlock(index);
        for (int p = firstPlane; p < lastPlane; p++)
        {
            long offset = (long)p * l.Spatial;
            int rest = (lastPlane - p) * l.Spatial;
            (partials[2 * p], partials[2 * p + 1]) = BatchNormBackward.ReduceRuns(
                new ReadOnlySpan<TElement>(x + offset, rest), new ReadOnlySpan<TElement>(dy + offset, rest), 1, l.Spatial, l.Spatial, mean[p % channels]);
        }
    }
}
