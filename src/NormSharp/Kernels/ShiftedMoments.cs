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
/// A chunk is at most <see cref="ChunkLength"/> values of one channel: a slice of a long run, a group of short runs
/// (the planes of a channel), or <see cref="RowsPerChunk"/> rows of a column of channels (rows of C values). Per chunk
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
/// <para>Summation order, fixed by the shape alone (never by the thread count or the vector width): in runs, element
/// i of a run goes to lane i mod <see cref="ChunkLanes"/>, the runs of a chunk add into the same lanes in order, and the
/// lanes fold by halves (lane i += lane i + w for w = 16, 8, 4, 2, 1); in rows, each channel adds its rows in order.
/// Chunks merge in memory order, work items' results in item order (<see cref="NormLayout.CombineMoments"/>).
/// Vector512, Vector256 and scalar paths give the same bits: each step is the same IEEE operation on the same lane
/// (the squares with one fused multiply-add), and masked lanes add +0.</para>
/// </remarks>
[SkipLocalsInit] // the stack buffers are written before they are read (lanes) or masked off (tails)
internal static class ShiftedMoments
{
    /// <summary>Values of one channel per chunk (a multiple of <see cref="ChunkLanes"/>): 8 KB of float, 16 KB of double.</summary>
    public const int ChunkLength = 2048;

    /// <summary>Accumulator lanes of a chunk of runs.</summary>
    public const int ChunkLanes = 32;

    /// <summary>Rows layout: rows per chunk for C channels, about <see cref="ChunkLength"/> values and at least 8 rows. Few
    /// rows keep a column's chunk in L1 when the rows are a multiple of 4 KB apart (the lines then share one cache set).</summary>
    public static int RowsPerChunk(int channels) => Math.Max(8, ChunkLength / channels);

    /// <summary>Lanes of the backward sums (<see cref="BatchNormBackward"/>): element i of a run to lane i mod 16.</summary>
    public const int Lanes = 16;

    /// <summary>
    /// The moments of <paramref name="runs"/> runs of <paramref name="length"/> values, <paramref name="stride"/> apart, from
    /// x[0] (the planes of one channel, or one plane): runs longer than a chunk are cut into chunks, shorter ones grouped.
    /// x may go on past the runs: a single run's following values are fetched into the cache ahead of the next call.
    /// </summary>
    public static Moments ReduceRuns<T>(ReadOnlySpan<T> x, int runs, int stride, int length) where T : unmanaged =>
        Lanes512.IsHardwareAccelerated ? ReduceRuns<T, Lanes512>(x, runs, stride, length)
        : Lanes256.IsHardwareAccelerated ? ReduceRuns<T, Lanes256>(x, runs, stride, length)
        : ReduceRuns<T, ScalarLane>(x, runs, stride, length);

    /// <summary>
    /// Rows layout ((N, C) input, or channels-last): x holds <paramref name="rows"/> rows of C = item.Length values;
    /// writes each channel's moments over these rows into <paramref name="item"/>.
    /// </summary>
    public static void ReduceRows<T>(ReadOnlySpan<T> x, int rows, MomentSpans item) where T : unmanaged
    {
        int channels = item.Length, rowsPerChunk = RowsPerChunk(channels);
        for (int first = 0; first < rows; first += rowsPerChunk)
        {
            int count = Math.Min(rowsPerChunk, rows - first);
            int c = 0;
            if (Lanes512.IsHardwareAccelerated) c = ReduceColumns<T, Lanes512>(x, first, count, c, item);
            else if (Lanes256.IsHardwareAccelerated) c = ReduceColumns<T, Lanes256>(x, first, count, c, item);
            ReduceColumns<T, ScalarLane>(x, first, count, c, item);
        }
    }

    /// <summary>total[c] = merge(total[c], part[c]) for every group c, all totals over <paramref name="count"/> values and
    /// all parts over <paramref name="partCount"/>.</summary>
    public static void Merge(MomentSpans total, double count, MomentSpans part, double partCount)
    {
        int c = 0;
        if (Lanes512.IsHardwareAccelerated) c = MergeColumns<Lanes512>(total, count, part, partCount, c);
        else if (Lanes256.IsHardwareAccelerated) c = MergeColumns<Lanes256>(total, count, part, partCount, c);
        MergeColumns<ScalarLane>(total, count, part, partCount, c);
    }

    /// <summary>The moments of a group of <paramref name="count"/> values followed by one of <paramref name="partCount"/>.</summary>
    public static Moments Merge(Moments total, double count, Moments part, double partCount)
    {
        ScalarLane sum = new(total.Sum), high = new(total.MeanHigh), low = new(total.MeanLow), m2 = new(total.M2);
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

    /// <summary>Σ of the 16 backward lanes, in lane order.</summary>
    public static double SumLanes(ReadOnlySpan<double> lanes)
    {
        double total = 0;
        for (int l = 0; l < Lanes; l++) total += lanes[l];
        return total;
    }

    private static Moments ReduceRuns<T, TV>(ReadOnlySpan<T> x, int runs, int stride, int length)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        Moments total = default;
        double count = 0;
        if (length > ChunkLength)
        {
            for (int r = 0; r < runs; r++)
                for (int start = 0; start < length; start += ChunkLength)
                {
                    int chunkLength = Math.Min(ChunkLength, length - start);
                    // The next chunk: further along this run, the next run, or (one run) the values that follow it.
                    int next = start + ChunkLength < length ? start + ChunkLength : r + 1 < runs ? stride : runs == 1 ? length : -1;
                    Moments chunk = ReduceChunk<T, TV>(x, r * stride + start, 1, stride, chunkLength, next < 0 ? 0 : next - start);
                    total = count == 0 ? chunk : Merge(total, count, chunk, chunkLength);
                    count += chunkLength;
                }

            return total;
        }

        int runsPerChunk = ChunkLength / length;
        for (int first = 0; first < runs; first += runsPerChunk)
        {
            int chunkRuns = Math.Min(runsPerChunk, runs - first);
            int nextDistance = first + chunkRuns < runs ? chunkRuns * stride : runs == 1 ? length : 0;
            Moments chunk = ReduceChunk<T, TV>(x, first * stride, chunkRuns, stride, length, nextDistance);
            total = count == 0 ? chunk : Merge(total, count, chunk, (double)chunkRuns * length);
            count += (double)chunkRuns * length;
        }

        return total;
    }

    /// <summary>One chunk: <paramref name="runs"/> runs of <paramref name="length"/> values from x[offset], stride apart; the
    /// next chunk starts <paramref name="nextDistance"/> values further (0: none to fetch ahead).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Moments ReduceChunk<T, TV>(ReadOnlySpan<T> x, int offset, int runs, int stride, int length, int nextDistance)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        double count = (double)runs * length;
        double sum = SumValues<T, TV>(x, offset, runs, stride, length);
        double inverseCount = 1.0 / count, shift = sum * inverseCount;
        (double s1, double s2) = SumDeviations<T, TV>(x, offset, runs, stride, length, shift, nextDistance);
        double low = s1 * inverseCount;
        return new(sum, shift, low, s2 - s1 * low);
    }

    /// <summary>Pass 1: Σ x in the 32 lanes (element i of a run to lane i mod 32), four registers of lanes at a time, folded.</summary>
    private static double SumValues<T, TV>(ReadOnlySpan<T> x, int offset, int runs, int stride, int length)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        int width = TV.Count, full = length - length % ChunkLanes, tailLength = length - full;
        ref T origin = ref MemoryMarshal.GetReference(x);
        Span<T> padded = stackalloc T[ChunkLanes];
        Span<double> lanes = stackalloc double[ChunkLanes];
        for (int lane = 0; lane < ChunkLanes; lane += 4 * width)
        {
            // The run's last length mod 32 values add as masked registers: lanes past them add +0, which leaves a lane's
            // value as it is.
            TV keep0 = TV.LanesBelow(tailLength - lane), keep1 = TV.LanesBelow(tailLength - lane - width);
            TV keep2 = TV.LanesBelow(tailLength - lane - 2 * width), keep3 = TV.LanesBelow(tailLength - lane - 3 * width);
            TV s0 = default, s1 = default, s2 = default, s3 = default;
            for (int r = 0; r < runs; r++)
            {
                int run = offset + r * stride;
                // s += x
                for (int i = 0; i < full; i += ChunkLanes)
                {
                    ref T at = ref Unsafe.Add(ref origin, run + i + lane);
                    s0 += TV.Load(ref at);
                    s1 += TV.Load(ref Unsafe.Add(ref at, width));
                    s2 += TV.Load(ref Unsafe.Add(ref at, 2 * width));
                    s3 += TV.Load(ref Unsafe.Add(ref at, 3 * width));
                }

                if (tailLength > lane)
                {
                    ref T at = ref TailValues(x, run + full + lane, Math.Min(tailLength - lane, 4 * width), 4 * width, padded);
                    s0 += TV.Keep(TV.Load(ref at), keep0);
                    s1 += TV.Keep(TV.Load(ref Unsafe.Add(ref at, width)), keep1);
                    s2 += TV.Keep(TV.Load(ref Unsafe.Add(ref at, 2 * width)), keep2);
                    s3 += TV.Keep(TV.Load(ref Unsafe.Add(ref at, 3 * width)), keep3);
                }
            }

            if (4 * width == ChunkLanes) return Fold(s0, s1, s2, s3);
            Store(lanes, lane, s0, s1, s2, s3);
        }

        return Fold(lanes);
    }

    /// <summary>Pass 2: Σ (x - shift) and Σ (x - shift)² in the 32 lanes each, folded. Meanwhile the same positions
    /// <paramref name="nextDistance"/> values further are fetched into the cache (the next chunk's pass 1 then finds them
    /// there, rather than the memory idling while this pass computes).</summary>
    private static (double Deviations, double Squares) SumDeviations<T, TV>(ReadOnlySpan<T> x, int offset, int runs, int stride, int length,
                                                                           double shift, int nextDistance)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        int width = TV.Count, full = length - length % ChunkLanes, tailLength = length - full;
        ref T origin = ref MemoryMarshal.GetReference(x);
        Span<T> padded = stackalloc T[ChunkLanes];
        Span<double> lanes = stackalloc double[2 * ChunkLanes];
        TV m = TV.Create(shift);
        for (int lane = 0; lane < ChunkLanes; lane += 4 * width)
        {
            TV keep0 = TV.LanesBelow(tailLength - lane), keep1 = TV.LanesBelow(tailLength - lane - width);
            TV keep2 = TV.LanesBelow(tailLength - lane - 2 * width), keep3 = TV.LanesBelow(tailLength - lane - 3 * width);
            TV s0 = default, s1 = default, s2 = default, s3 = default;
            TV q0 = default, q1 = default, q2 = default, q3 = default;
            for (int r = 0; r < runs; r++)
            {
                int run = offset + r * stride;
                // d = x - m;  s += d;  q += d·d
                for (int i = 0; i < full; i += ChunkLanes)
                {
                    if (nextDistance != 0) Prefetch<T, TV>(x, run + i + lane + nextDistance);
                    ref T at = ref Unsafe.Add(ref origin, run + i + lane);
                    TV d0 = TV.Load(ref at) - m;
                    TV d1 = TV.Load(ref Unsafe.Add(ref at, width)) - m;
                    TV d2 = TV.Load(ref Unsafe.Add(ref at, 2 * width)) - m;
                    TV d3 = TV.Load(ref Unsafe.Add(ref at, 3 * width)) - m;
                    s0 += d0; s1 += d1; s2 += d2; s3 += d3;
                    q0 = TV.FusedMultiplyAdd(d0, d0, q0);
                    q1 = TV.FusedMultiplyAdd(d1, d1, q1);
                    q2 = TV.FusedMultiplyAdd(d2, d2, q2);
                    q3 = TV.FusedMultiplyAdd(d3, d3, q3);
                }

                if (tailLength > lane)
                {
                    ref T at = ref TailValues(x, run + full + lane, Math.Min(tailLength - lane, 4 * width), 4 * width, padded);
                    TV d0 = TV.Keep(TV.Load(ref at) - m, keep0);
                    TV d1 = TV.Keep(TV.Load(ref Unsafe.Add(ref at, width)) - m, keep1);
                    TV d2 = TV.Keep(TV.Load(ref Unsafe.Add(ref at, 2 * width)) - m, keep2);
                    TV d3 = TV.Keep(TV.Load(ref Unsafe.Add(ref at, 3 * width)) - m, keep3);
                    s0 += d0; s1 += d1; s2 += d2; s3 += d3;
                    q0 = TV.FusedMultiplyAdd(d0, d0, q0);
                    q1 = TV.FusedMultiplyAdd(d1, d1, q1);
                    q2 = TV.FusedMultiplyAdd(d2, d2, q2);
                    q3 = TV.FusedMultiplyAdd(d3, d3, q3);
                }
            }

            if (4 * width == ChunkLanes) return (Fold(s0, s1, s2, s3), Fold(q0, q1, q2, q3));
            Store(lanes, lane, s0, s1, s2, s3);
            Store(lanes, ChunkLanes + lane, q0, q1, q2, q3);
        }

        return (Fold(lanes[..ChunkLanes]), Fold(lanes[ChunkLanes..]));
    }

    /// <summary>Asks the cache for the 4·TV.Count values from x[at] (a hint, no effect on the results; nothing past x; vector
    /// paths on x86 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch<T, TV>(ReadOnlySpan<T> x, int at) where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        int values = 4 * TV.Count, bytes = values * sizeof(T); // constants once the JIT has specialized the method
        if (!Sse.IsSupported || TV.Count == 1 || (uint)at > (uint)(x.Length - values)) return;
        byte* address = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetReference(x), at));
        Sse.Prefetch0(address);
        if (bytes > 64) Sse.Prefetch0(address + 64);
        if (bytes > 128)
        {
            Sse.Prefetch0(address + 128);
            Sse.Prefetch0(address + 192);
        }
    }

    /// <summary>The 32 lanes held in four registers (Vector512), folded by halves as <see cref="Fold(Span{double})"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Fold<TV>(TV lanes0, TV lanes8, TV lanes16, TV lanes24) where TV : struct, IAccumulatorLanes<TV> =>
        TV.FoldLanes((lanes0 + lanes16) + (lanes8 + lanes24));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TV>(Span<double> lanes, int lane, TV s0, TV s1, TV s2, TV s3) where TV : struct, IAccumulatorLanes<TV>
    {
        s0.Store(ref lanes[lane]);
        s1.Store(ref lanes[lane + TV.Count]);
        s2.Store(ref lanes[lane + 2 * TV.Count]);
        s3.Store(ref lanes[lane + 3 * TV.Count]);
    }

    /// <summary>Where to load <paramref name="readable"/> values from for the <paramref name="valid"/> values at x[at]: x itself
    /// when that stays inside x (the values past the run are masked off), else a copy in <paramref name="padded"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref T TailValues<T>(ReadOnlySpan<T> x, int at, int valid, int readable, Span<T> padded)
    {
        ref T origin = ref MemoryMarshal.GetReference(x);
        if (at + readable <= x.Length) return ref Unsafe.Add(ref origin, at);
        // At the very end of x: a plain loop (no call, which would make the JIT spill the accumulators).
        ref T copy = ref MemoryMarshal.GetReference(padded);
        for (int j = 0; j < valid; j++) Unsafe.Add(ref copy, j) = Unsafe.Add(ref origin, at + j);
        return ref copy;
    }

    /// <summary>Folds the 32 lanes by halves: lane i += lane i + w for w = 16, 8, 4, 2, 1; returns lane 0.</summary>
    private static double Fold(Span<double> lanes)
    {
        for (int width = ChunkLanes / 2; width >= 1; width /= 2)
            for (int i = 0; i < width; i++) lanes[i] += lanes[i + width];
        return lanes[0];
    }

    /// <summary>Rows layout: the chunk of <paramref name="rows"/> rows from row <paramref name="first"/> of x, its channels
    /// from c on, in columns of four registers of channels, then two, then one (separate methods, each small enough for
    /// the JIT to inline its helpers and keep the sums in registers); returns the first channel left (fewer than one
    /// register). Pass 2 fetches the next chunk's rows into the cache.</summary>
    private static int ReduceColumns<T, TV>(ReadOnlySpan<T> x, int first, int rows, int c, MomentSpans item)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        c = ReduceColumnsOfFour<T, TV>(x, first, rows, c, item);
        c = ReduceColumnsOfTwo<T, TV>(x, first, rows, c, item);
        return ReduceColumnsOfOne<T, TV>(x, first, rows, c, item);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReduceColumnsOfFour<T, TV>(ReadOnlySpan<T> x, int first, int rows, int c, MomentSpans item)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        int channels = item.Length, width = TV.Count, rowsBefore = first, nextDistance = NextChunkDistance(rows, channels);
        ref T origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), first * channels);
        TV inverseCount = TV.Create(1.0 / rows);
        for (; c <= channels - 4 * width; c += 4 * width)
        {
            // t += x, row after row
            TV t0 = default, t1 = default, t2 = default, t3 = default;
            for (int r = 0; r < rows; r++)
            {
                ref T at = ref Unsafe.Add(ref origin, r * channels + c);
                t0 += TV.Load(ref at);
                t1 += TV.Load(ref Unsafe.Add(ref at, width));
                t2 += TV.Load(ref Unsafe.Add(ref at, 2 * width));
                t3 += TV.Load(ref Unsafe.Add(ref at, 3 * width));
            }

            TV m0 = t0 * inverseCount, m1 = t1 * inverseCount, m2 = t2 * inverseCount, m3 = t3 * inverseCount;
            // d = x - m;  s += d;  q += d·d
            TV s0 = default, s1 = default, s2 = default, s3 = default;
            TV q0 = default, q1 = default, q2 = default, q3 = default;
            for (int r = 0; r < rows; r++)
            {
                if (nextDistance != 0) Prefetch<T, TV>(x, (first + r) * channels + c + nextDistance);
                ref T at = ref Unsafe.Add(ref origin, r * channels + c);
                TV d0 = TV.Load(ref at) - m0;
                TV d1 = TV.Load(ref Unsafe.Add(ref at, width)) - m1;
                TV d2 = TV.Load(ref Unsafe.Add(ref at, 2 * width)) - m2;
                TV d3 = TV.Load(ref Unsafe.Add(ref at, 3 * width)) - m3;
                s0 += d0; s1 += d1; s2 += d2; s3 += d3;
                q0 = TV.FusedMultiplyAdd(d0, d0, q0);
                q1 = TV.FusedMultiplyAdd(d1, d1, q1);
                q2 = TV.FusedMultiplyAdd(d2, d2, q2);
                q3 = TV.FusedMultiplyAdd(d3, d3, q3);
            }

            StoreColumn(item, c, rowsBefore, rows, inverseCount, t0, m0, s0, q0);
            StoreColumn(item, c + width, rowsBefore, rows, inverseCount, t1, m1, s1, q1);
            StoreColumn(item, c + 2 * width, rowsBefore, rows, inverseCount, t2, m2, s2, q2);
            StoreColumn(item, c + 3 * width, rowsBefore, rows, inverseCount, t3, m3, s3, q3);
        }

        return c;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReduceColumnsOfTwo<T, TV>(ReadOnlySpan<T> x, int first, int rows, int c, MomentSpans item)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        int channels = item.Length, width = TV.Count, rowsBefore = first, nextDistance = NextChunkDistance(rows, channels);
        ref T origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), first * channels);
        TV inverseCount = TV.Create(1.0 / rows);
        for (; c <= channels - 2 * width; c += 2 * width)
        {
            TV t0 = default, t1 = default;
            for (int r = 0; r < rows; r++)
            {
                ref T at = ref Unsafe.Add(ref origin, r * channels + c);
                t0 += TV.Load(ref at);
                t1 += TV.Load(ref Unsafe.Add(ref at, width));
            }

            TV m0 = t0 * inverseCount, m1 = t1 * inverseCount, s0 = default, s1 = default, q0 = default, q1 = default;
            for (int r = 0; r < rows; r++)
            {
                if (nextDistance != 0) Prefetch<T, TV>(x, (first + r) * channels + c + nextDistance);
                ref T at = ref Unsafe.Add(ref origin, r * channels + c);
                TV d0 = TV.Load(ref at) - m0;
                TV d1 = TV.Load(ref Unsafe.Add(ref at, width)) - m1;
                s0 += d0; s1 += d1;
                q0 = TV.FusedMultiplyAdd(d0, d0, q0);
                q1 = TV.FusedMultiplyAdd(d1, d1, q1);
            }

            StoreColumn(item, c, rowsBefore, rows, inverseCount, t0, m0, s0, q0);
            StoreColumn(item, c + width, rowsBefore, rows, inverseCount, t1, m1, s1, q1);
        }

        return c;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReduceColumnsOfOne<T, TV>(ReadOnlySpan<T> x, int first, int rows, int c, MomentSpans item)
        where T : unmanaged where TV : struct, IAccumulatorLanes<TV>
    {
        int channels = item.Length, width = TV.Count, rowsBefore = first, nextDistance = NextChunkDistance(rows, channels);
        ref T origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), first * channels);
        TV inverseCount = TV.Create(1.0 / rows);
        for (; c <= channels - width; c += width)
        {
            TV t = default;
            for (int r = 0; r < rows; r++) t += TV.Load(ref Unsafe.Add(ref origin, r * channels + c));
            TV m = t * inverseCount, s = default, q = default;
            for (int r = 0; r < rows; r++)
            {
                if (nextDistance != 0) Prefetch<T, TV>(x, (first + r) * channels + c + nextDistance);
                TV d = TV.Load(ref Unsafe.Add(ref origin, r * channels + c)) - m;
                s += d;
                q = TV.FusedMultiplyAdd(d, d, q);
            }

            StoreColumn(item, c, rowsBefore, rows, inverseCount, t, m, s, q);
        }

        return c;
    }

    /// <summary>Rows layout: how far ahead the next chunk's rows start (0: do not fetch them early). Chunks of the minimum 8
    /// rows are wide rows, often a multiple of 4 KB apart; fetching 8 more into the same cache sets would evict the
    /// chunk before its second pass.</summary>
    private static int NextChunkDistance(int rows, int channels) => RowsPerChunk(channels) > 8 ? rows * channels : 0;

    /// <summary>A column's chunk moments (Σx, shift m, Σ (x - m), Σ (x - m)²), written to item, or merged into it after the
    /// item's first <paramref name="rowsBefore"/> rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreColumn<TV>(MomentSpans item, int c, int rowsBefore, int rows, TV inverseCount, TV sum, TV shift, TV s1, TV s2)
        where TV : struct, IAccumulatorLanes<TV>
    {
        TV high = shift, low = s1 * inverseCount, m2 = s2 - s1 * low;
        if (rowsBefore > 0)
        {
            TV partSum = sum, partHigh = high, partLow = low, partM2 = m2;
            sum = Load<TV>(item.Sum, c);
            high = Load<TV>(item.MeanHigh, c);
            low = Load<TV>(item.MeanLow, c);
            m2 = Load<TV>(item.M2, c);
            Merge(ref sum, ref high, ref low, ref m2, rowsBefore, partSum, partHigh, partLow, partM2, rows);
        }

        sum.Store(ref item.Sum[c]);
        high.Store(ref item.MeanHigh[c]);
        low.Store(ref item.MeanLow[c]);
        m2.Store(ref item.M2[c]);
    }

    private static int MergeColumns<TV>(MomentSpans total, double count, MomentSpans part, double partCount, int c)
        where TV : struct, IAccumulatorLanes<TV>
    {
        for (; c <= total.Length - TV.Count; c += TV.Count)
        {
            TV sum = Load<TV>(total.Sum, c), high = Load<TV>(total.MeanHigh, c), low = Load<TV>(total.MeanLow, c), m2 = Load<TV>(total.M2, c);
            Merge(ref sum, ref high, ref low, ref m2, count, Load<TV>(part.Sum, c), Load<TV>(part.MeanHigh, c), Load<TV>(part.MeanLow, c), Load<TV>(part.M2, c), partCount);
            sum.Store(ref total.Sum[c]);
            high.Store(ref total.MeanHigh[c]);
            low.Store(ref total.MeanLow[c]);
            m2.Store(ref total.M2[c]);
        }

        return c;
    }

    /// <summary>
    /// Chan et al.'s merge of a group of <paramref name="count"/> values with one of <paramref name="partCount"/>, lane by lane:
    /// δ = mean_b - mean_a; mean += δ·n_b/n; M2 = M2_a + M2_b + δ·(δ·n_b/n)·n_a; Σx adds. The mean stays an unevaluated
    /// sum High + Low (δ from the two halves; the new pair from an exact TwoSum).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Merge<TV>(ref TV sum, ref TV high, ref TV low, ref TV m2, double count,
                                  TV partSum, TV partHigh, TV partLow, TV partM2, double partCount)
        where TV : struct, IAccumulatorLanes<TV>
    {
        TV delta = (partHigh - high) + (partLow - low);
        TV step = delta * TV.Create(partCount / (count + partCount));
        // TwoSum: newHigh + newLow == high + (low + step) exactly
        TV rest = low + step;
        TV newHigh = high + rest;
        TV restRounded = newHigh - high;
        low = (high - (newHigh - restRounded)) + (rest - restRounded);
        high = newHigh;
        m2 = (m2 + partM2) + delta * step * TV.Create(count);
        sum += partSum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Load<TV>(Span<double> values, int at) where TV : struct, IAccumulatorLanes<TV> => TV.Load(ref values[at]);
}
