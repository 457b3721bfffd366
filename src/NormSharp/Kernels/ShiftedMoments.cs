using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace NormSharp.Kernels;

/// <summary>
/// The moments of a group of values: Σx as summed, the mean as an unevaluated sum <see cref="MeanHigh"/> +
/// <see cref="MeanLow"/>, and M2 = Σ (x - mean)². The count is known from the shape and passed alongside.
/// </summary>
/// <param name="Sum">Σx, summed in double (±Inf or NaN when a value is).</param>
/// <param name="MeanHigh">The mean, rounded to a double.</param>
/// <param name="MeanLow">What the rounding of <paramref name="MeanHigh"/> left out.</param>
/// <param name="M2">Σ (x - mean)², the varSum of the group.</param>
internal readonly record struct Moments(double Sum, double MeanHigh, double MeanLow, double M2);

/// <summary>Moments of many groups, one span per quantity (structure of arrays, so that merges vectorize across groups).</summary>
internal readonly ref struct MomentSpans
{
    public MomentSpans(Span<double> sum, Span<double> meanHigh, Span<double> meanLow, Span<double> m2)
    {
        Sum = sum;
        MeanHigh = meanHigh;
        MeanLow = meanLow;
        M2 = m2;
    }

    public Span<double> Sum { get; }

    public Span<double> MeanHigh { get; }

    public Span<double> MeanLow { get; }

    public Span<double> M2 { get; }

    public int Length => Sum.Length;

    /// <summary>Four consecutive blocks of <paramref name="length"/> doubles from <paramref name="origin"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe MomentSpans Over(double* origin, int length) =>
        new(new Span<double>(origin, length), new Span<double>(origin + length, length),
            new Span<double>(origin + 2L * length, length), new Span<double>(origin + 3L * length, length));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MomentSpans Slice(int start, int length) =>
        new(Sum.Slice(start, length), MeanHigh.Slice(start, length), MeanLow.Slice(start, length), M2.Slice(start, length));

    public Moments this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Sum[index], MeanHigh[index], MeanLow[index], M2[index]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int index, Moments value)
    {
        Sum[index] = value.Sum;
        MeanHigh[index] = value.MeanHigh;
        MeanLow[index] = value.MeanLow;
        M2[index] = value.M2;
    }

    public void CopyTo(MomentSpans destination)
    {
        Sum.CopyTo(destination.Sum);
        MeanHigh.CopyTo(destination.MeanHigh);
        MeanLow.CopyTo(destination.MeanLow);
        M2.CopyTo(destination.M2);
    }
}

/// <summary>
/// Batch statistics: the mean and varSum = Σ (x - mean)² of each channel, in double, from chunks that fit the L1
/// cache, each reduced in two passes around its own mean, merged in an order fixed by the shape.
/// </summary>
/// <remarks>
/// A chunk is at most <see cref="Chunk.Length"/> values of one channel: a slice of a long run, a group of short runs
/// (the planes of a channel), or <see cref="Chunk.RowsFor"/> rows of a column of channels (rows of C values). Per chunk
/// of n values, then per merge:
/// <code>
/// pass 1:  m  = Σ x · (1/n)                       (the chunk's own mean, rounded: its shift)
/// pass 2:  S1 = Σ (x - m)    S2 = Σ (x - m)²       (the chunk is still in L1)
///          mean = m + S1/n, kept as High = m, Low = S1·(1/n)        M2 = S2 - S1·Low
/// merge a then b (Chan et al.):
///          δ = mean_b - mean_a    mean = mean_a + δ·n_b/n    M2 = M2_a + M2_b + δ·(δ·n_b/n)·n_a    Σx = Σx_a + Σx_b
/// </code>
/// Memory is read once, each chunk a second time from L1 while the next chunk is fetched into the cache. Because m is
/// the chunk's own mean, |m - mean| is a rounding error and S2 - S1·Low cancels nothing: M2 carries only the rounding
/// of summing squares, whatever the order or the offset of the data. Means stay High + Low pairs (updated with an
/// exact TwoSum), so δ keeps the bits a large mean would take (1e8 ± 1 in double). Relative error of the variance against an exact reference
/// (StatisticsAccuracyTests), measured: at most 3e-15 for 2^20 values of N(0, 1) with an outlier of 1e4 first or
/// last, sorted ascending or descending, or offset to a mean of 1e8, float and double, on every reduction path, and
/// for 10^7 values. (The former single pass around the channel's first value K lost (K - mean)²/var of the precision:
/// 5e-9 with the outlier first, 6e-8 at 10^7 values.)
/// <para>The mean is High + Low. When a value is ±Inf or NaN, so is Σx, and the mean is Σx / M as in PyTorch (±Inf;
/// NaN with both infinities or a NaN); M2 is then NaN, as PyTorch's variance is.</para>
/// <para>Summation order: <see cref="Chunk"/>'s, with <see cref="Lanes"/> lanes in runs (each channel's rows in order in
/// rows), the squares with one fused multiply-add. Chunks merge in memory order, work items' results in item order
/// (<see cref="NormLayout.CombineMoments"/>). The Vector512, Vector256, Vector128 and scalar paths give the same bits.</para>
/// </remarks>
[SkipLocalsInit] // the stack buffers are written before they are read (lanes) or masked off (tails)
internal static class ShiftedMoments
{
    /// <summary>Accumulator lanes of a chunk of runs: element i of a run to lane i mod 32, one pass of four Vector512 of
    /// double (two passes on Vector256, whose second reads the chunk from L1, as pass 2 does anyway).</summary>
    public const int Lanes = 32;

    /// <summary>
    /// The moments of <paramref name="runs"/> runs of <paramref name="length"/> values, <paramref name="stride"/> apart, from
    /// x[0] (the planes of one channel, or one plane): runs longer than a chunk are cut into chunks, shorter ones grouped.
    /// x may go on past the runs: a single run's following values are fetched into the cache ahead of the next call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Moments ReduceRuns<T>(ReadOnlySpan<T> x, int runs, int stride, int length) where T : unmanaged
    {
        Debug.Assert(runs >= 1 && length >= 1 && stride >= length && x.Length >= (long)(runs - 1) * stride + length);
        return Lanes512<double>.IsHardwareAccelerated ? ReduceRuns<T, Quad<Lanes512<double>, double>>(x, runs, stride, length)
            : Lanes256<double>.IsHardwareAccelerated ? ReduceRuns<T, Quad<Lanes256<double>, double>>(x, runs, stride, length)
            : Lanes128<double>.IsHardwareAccelerated ? ReduceRuns<T, Quad<Lanes128<double>, double>>(x, runs, stride, length)
            : ReduceRuns<T, Quad<ScalarLane<double>, double>>(x, runs, stride, length);
    }

    /// <summary>
    /// Rows layout ((N, C) input, or channels-last): x holds <paramref name="rows"/> rows of C = item.Length values;
    /// writes each channel's moments over these rows into <paramref name="item"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReduceRows<T>(ReadOnlySpan<T> x, int rows, MomentSpans item) where T : unmanaged
    {
        Debug.Assert(rows >= 1 && item.Length >= 1 && x.Length == (long)rows * item.Length);
        int rowsPerChunk = Chunk.RowsFor(item.Length);
        for (int first = 0; first < rows; first += rowsPerChunk)
        {
            // Each channel is a lane of its own: the widest registers first, narrower ones for the channels left.
            int count = Math.Min(rowsPerChunk, rows - first), c = 0;
            if (Lanes512<double>.IsHardwareAccelerated) c = ReduceColumns<T, Lanes512<double>>(x, first, count, c, item);
            if (Lanes256<double>.IsHardwareAccelerated) c = ReduceColumns<T, Lanes256<double>>(x, first, count, c, item);
            if (Lanes128<double>.IsHardwareAccelerated) c = ReduceColumns<T, Lanes128<double>>(x, first, count, c, item);
            ReduceColumns<T, ScalarLane<double>>(x, first, count, c, item);
        }
    }

    /// <summary>total[c] = merge(total[c], part[c]) for every group c, all totals over <paramref name="count"/> values and
    /// all parts over <paramref name="partCount"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Merge(MomentSpans total, double count, MomentSpans part, double partCount)
    {
        Debug.Assert(part.Length == total.Length);
        int c = 0;
        if (Lanes512<double>.IsHardwareAccelerated) c = MergeColumns<Lanes512<double>>(total, count, part, partCount, c);
        if (Lanes256<double>.IsHardwareAccelerated) c = MergeColumns<Lanes256<double>>(total, count, part, partCount, c);
        if (Lanes128<double>.IsHardwareAccelerated) c = MergeColumns<Lanes128<double>>(total, count, part, partCount, c);
        MergeColumns<ScalarLane<double>>(total, count, part, partCount, c);
    }

    /// <summary>The moments of a group of <paramref name="count"/> values followed by one of <paramref name="partCount"/>.</summary>
    public static Moments Merge(Moments total, double count, Moments part, double partCount)
    {
        ScalarLane<double> sum = new(total.Sum), high = new(total.MeanHigh), low = new(total.MeanLow), m2 = new(total.M2);
        Merge(ref sum, ref high, ref low, ref m2, count, new(part.Sum), new(part.MeanHigh), new(part.MeanLow), new(part.M2), partCount);
        return new(sum.Value, high.Value, low.Value, m2.Value);
    }

    /// <summary>(mean, varSum) of a channel from its merged moments over <paramref name="count"/> values.</summary>
    public static (double Mean, double VarSum) MeanAndVarSum(Moments total, double count)
    {
        double mean = double.IsFinite(total.Sum) ? total.MeanHigh + total.MeanLow : total.Sum / count;
        // Rounding can leave a tiny negative for a constant channel; NaN passes through.
        return (mean, total.M2 < 0 ? 0.0 : total.M2);
    }

    /// <summary>invStd = 1 / sqrt(var + eps), with ATen's guard: 0 when var == 0 and eps == 0.</summary>
    public static double InvStd(double variance, double eps) =>
        variance == 0.0 && eps == 0.0 ? 0.0 : 1.0 / Math.Sqrt(variance + eps);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Moments ReduceRuns<T, TBlock>(ReadOnlySpan<T> x, int runs, int stride, int length)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        Moments total = default;
        double count = 0;
        foreach (RunChunk chunk in new RunChunks(runs, stride, length))
        {
            Moments moments = ReduceChunk<T, TBlock>(x, chunk);
            total = count == 0 ? moments : Merge(total, count, moments, chunk.Count);
            count += chunk.Count;
        }

        return total;
    }

    /// <summary>One chunk's moments: its mean m (pass 1), then Σ (x - m) and Σ (x - m)² (pass 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Moments ReduceChunk<T, TBlock>(ReadOnlySpan<T> x, in RunChunk chunk)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        double sum = SumValues<T, TBlock>(x, chunk);
        double inverseCount = 1.0 / chunk.Count, shift = sum * inverseCount;
        (double s1, double s2) = SumDeviations<T, TBlock>(x, chunk, shift);
        double low = s1 * inverseCount;
        return new(sum, shift, low, s2 - s1 * low);
    }

    /// <summary>Pass 1: Σ x in the 32 lanes (element i of a run to lane i mod 32), a block of lanes at a time, folded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumValues<T, TBlock>(ReadOnlySpan<T> x, in RunChunk chunk)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        int full = chunk.Length - chunk.Length % Lanes, tailLength = chunk.Length - full;
        Span<T> padded = stackalloc T[Lanes];
        Span<double> lanes = stackalloc double[Lanes];
        for (int lane = 0; lane < Lanes; lane += TBlock.Count)
        {
            TBlock keep = TBlock.LanesBelow(tailLength - lane), s = default;
            for (int r = 0; r < chunk.Runs; r++)
            {
                int run = chunk.Offset + r * chunk.Stride;
                // s += x
                for (int i = 0; i < full; i += Lanes) s += TBlock.Load(x, run + i + lane);
                if (tailLength > lane)
                {
                    ReadOnlySpan<T> tail = Chunk.Tail(x, run + full + lane, Math.Min(tailLength - lane, TBlock.Count), TBlock.Count, padded);
                    s += TBlock.Keep(TBlock.Load(tail, 0), keep);
                }
            }

            if (TBlock.Count == Lanes) return TBlock.FoldLanes(s);
            s.Store(lanes, lane);
        }

        return Chunk.Fold(lanes);
    }

    /// <summary>Pass 2: Σ (x - shift) and Σ (x - shift)² in the 32 lanes each, folded. Meanwhile the same positions
    /// chunk.NextDistance values further are fetched into the cache (the next chunk's pass 1 then finds them there,
    /// rather than the memory idling while this pass computes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Deviations, double Squares) SumDeviations<T, TBlock>(ReadOnlySpan<T> x, in RunChunk chunk, double shift)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        int full = chunk.Length - chunk.Length % Lanes, tailLength = chunk.Length - full, nextDistance = chunk.NextDistance;
        Span<T> padded = stackalloc T[Lanes];
        Span<double> lanes = stackalloc double[2 * Lanes];
        TBlock m = TBlock.Create(shift);
        for (int lane = 0; lane < Lanes; lane += TBlock.Count)
        {
            TBlock keep = TBlock.LanesBelow(tailLength - lane), s = default, q = default;
            for (int r = 0; r < chunk.Runs; r++)
            {
                int run = chunk.Offset + r * chunk.Stride;
                // d = x - m;  s += d;  q += d·d
                for (int i = 0; i < full; i += Lanes)
                {
                    if (nextDistance != 0) Prefetch<T, TBlock>(x, run + i + lane + nextDistance);
                    TBlock d = TBlock.Load(x, run + i + lane) - m;
                    s += d;
                    q = TBlock.FusedMultiplyAdd(d, d, q);
                }

                if (tailLength > lane)
                {
                    ReadOnlySpan<T> tail = Chunk.Tail(x, run + full + lane, Math.Min(tailLength - lane, TBlock.Count), TBlock.Count, padded);
                    TBlock d = TBlock.Keep(TBlock.Load(tail, 0) - m, keep);
                    s += d;
                    q = TBlock.FusedMultiplyAdd(d, d, q);
                }
            }

            if (TBlock.Count == Lanes) return (TBlock.FoldLanes(s), TBlock.FoldLanes(q));
            s.Store(lanes, lane);
            q.Store(lanes, Lanes + lane);
        }

        return (Chunk.Fold(lanes[..Lanes]), Chunk.Fold(lanes[Lanes..]));
    }

    /// <summary>Asks the cache for the TBlock.Count values from x[at] (a hint, no effect on the results; nothing past x;
    /// on x86).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch<T, TBlock>(ReadOnlySpan<T> x, int at) where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        int values = TBlock.Count, bytes = values * sizeof(T); // constants once the JIT has specialized the method
        if (!Sse.IsSupported || (uint)at > (uint)(x.Length - values)) return;
        byte* address = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetReference(x), at));
        Sse.Prefetch0(address);
        if (bytes > 64) Sse.Prefetch0(address + 64);
        if (bytes > 128)
        {
            Sse.Prefetch0(address + 128);
            Sse.Prefetch0(address + 192);
        }
    }

    /// <summary>Rows layout: the chunk's columns of channels from c on, four registers at a time, then two, then one; returns
    /// the first channel left (fewer than one register).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ReduceColumns<T, TLanes>(ReadOnlySpan<T> x, int first, int rows, int c, MomentSpans item)
        where T : unmanaged where TLanes : struct, ILanes<TLanes, double>
    {
        if (item.Length - c >= Quad<TLanes, double>.Count) c = ReduceColumnBlocks<T, Quad<TLanes, double>>(x, first, rows, c, item);
        if (item.Length - c >= Pair<TLanes, double>.Count) c = ReduceColumnBlocks<T, Pair<TLanes, double>>(x, first, rows, c, item);
        if (item.Length - c >= TLanes.Count) c = ReduceColumnBlocks<T, TLanes>(x, first, rows, c, item);
        return c;
    }

    /// <summary>Rows layout: the moments of the chunk of <paramref name="rows"/> rows from row <paramref name="first"/>, for
    /// each block of channels from c on (a separate method per block type, each small enough for the JIT to keep the sums in
    /// registers); returns the first channel left. Pass 2 fetches the next chunk's rows into the cache.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int ReduceColumnBlocks<T, TBlock>(ReadOnlySpan<T> x, int first, int rows, int c, MomentSpans item)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        int channels = item.Length, end = first + rows, nextDistance = NextChunkDistance(rows, channels);
        TBlock inverseCount = TBlock.Create(1.0 / rows);
        for (; c <= channels - TBlock.Count; c += TBlock.Count)
        {
            // t += x, row after row
            TBlock t = default;
            for (int r = first; r < end; r++) t += TBlock.Load(x, r * channels + c);
            TBlock m = t * inverseCount, s = default, q = default;
            // d = x - m;  s += d;  q += d·d
            for (int r = first; r < end; r++)
            {
                if (nextDistance != 0) Prefetch<T, TBlock>(x, r * channels + c + nextDistance);
                TBlock d = TBlock.Load(x, r * channels + c) - m;
                s += d;
                q = TBlock.FusedMultiplyAdd(d, d, q);
            }

            StoreColumn(item, c, first, rows, inverseCount, t, m, s, q);
        }

        return c;
    }

    /// <summary>Rows layout: how far ahead the next chunk's rows start (0: do not fetch them early). Chunks of the minimum 8
    /// rows are wide rows, often a multiple of 4 KB apart; fetching 8 more into the same cache sets would evict the
    /// chunk before its second pass.</summary>
    private static int NextChunkDistance(int rows, int channels) => Chunk.RowsFor(channels) > 8 ? rows * channels : 0;

    /// <summary>A column's chunk moments (Σx, shift m, Σ (x - m), Σ (x - m)²), written to item, or merged into it after the
    /// item's first <paramref name="rowsBefore"/> rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreColumn<TBlock>(MomentSpans item, int c, int rowsBefore, int rows, TBlock inverseCount, TBlock sum, TBlock shift, TBlock s1, TBlock s2)
        where TBlock : struct, ILanes<TBlock, double>
    {
        TBlock high = shift, low = s1 * inverseCount, m2 = s2 - s1 * low;
        if (rowsBefore > 0)
        {
            TBlock partSum = sum, partHigh = high, partLow = low, partM2 = m2;
            sum = TBlock.Load(item.Sum, c);
            high = TBlock.Load(item.MeanHigh, c);
            low = TBlock.Load(item.MeanLow, c);
            m2 = TBlock.Load(item.M2, c);
            Merge(ref sum, ref high, ref low, ref m2, rowsBefore, partSum, partHigh, partLow, partM2, rows);
        }

        sum.Store(item.Sum, c);
        high.Store(item.MeanHigh, c);
        low.Store(item.MeanLow, c);
        m2.Store(item.M2, c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int MergeColumns<TLanes>(MomentSpans total, double count, MomentSpans part, double partCount, int c)
        where TLanes : struct, ILanes<TLanes, double>
    {
        for (; c <= total.Length - TLanes.Count; c += TLanes.Count)
        {
            TLanes sum = TLanes.Load(total.Sum, c), high = TLanes.Load(total.MeanHigh, c), low = TLanes.Load(total.MeanLow, c), m2 = TLanes.Load(total.M2, c);
            Merge(ref sum, ref high, ref low, ref m2, count,
                  TLanes.Load(part.Sum, c), TLanes.Load(part.MeanHigh, c), TLanes.Load(part.MeanLow, c), TLanes.Load(part.M2, c), partCount);
            sum.Store(total.Sum, c);
            high.Store(total.MeanHigh, c);
            low.Store(total.MeanLow, c);
            m2.Store(total.M2, c);
        }

        return c;
    }

    /// <summary>
    /// Chan et al.'s merge of a group of <paramref name="count"/> values with one of <paramref name="partCount"/>, lane by lane:
    /// δ = mean_b - mean_a; mean += δ·n_b/n; M2 = M2_a + M2_b + δ·(δ·n_b/n)·n_a; Σx adds. The mean stays an unevaluated
    /// sum High + Low (δ from the two halves; the new pair from an exact TwoSum).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Merge<TLanes>(ref TLanes sum, ref TLanes high, ref TLanes low, ref TLanes m2, double count,
                                      TLanes partSum, TLanes partHigh, TLanes partLow, TLanes partM2, double partCount)
        where TLanes : struct, ILanes<TLanes, double>
    {
        TLanes delta = (partHigh - high) + (partLow - low);
        TLanes step = delta * TLanes.Create(partCount / (count + partCount));
        // TwoSum: newHigh + newLow == high + (low + step) exactly
        TLanes rest = low + step;
        TLanes newHigh = high + rest;
        TLanes restRounded = newHigh - high;
        low = (high - (newHigh - restRounded)) + (rest - restRounded);
        high = newHigh;
        m2 = (m2 + partM2) + delta * step * TLanes.Create(count);
        sum += partSum;
    }
}
