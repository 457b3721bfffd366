using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace NormSharp.Kernels;

/// <summary>
/// Gradients of batch normalization. Two passes: the two per-channel sums, then the input gradient.
/// </summary>
/// <remarks>
/// With x̂ = (x - mean)·invStd and sums over the M values of a channel:
/// <code>
/// sumDy = Σ dy                      gradBias   = sumDy
/// dotP  = Σ (x - mean)·dy           gradWeight = dotP·invStd      ( = Σ dy·x̂ )
/// batch statistics (training, or evaluation without buffers): the statistics depend on x, so
///     dx = (dy - sumDy/M - (x - mean)·k)·invStd·w,   k = dotP·invStd²/M
///        = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))
/// running statistics (evaluation with buffers): they are constants, so
///     dx = dy·invStd·w
/// </code>
/// (w = 1 without affine.) The input gradient's kernel takes, per channel, in T:
/// <code>
/// centre   = (T) mean,   k = (T) k,   scale = (T)(invStd·w)
/// gradMean = (T)(sumDy/M - (mean - centre)·k)       (in double: mean - centre is exact there)
/// dx       = (dy - gradMean - (x - centre)·k)·scale
/// </code>
/// so that the large part of the mean leaves x before any rounding (x - centre is exact for x within a factor 2 of centre,
/// and otherwise rounded relative to itself) and the rest of it, at most half an ulp of the mean in T, enters through
/// gradMean in double, as <see cref="BatchNormTransform"/> does for y. Subtracting the mean rounded to T directly put
/// an error of up to 2^-24·|mean|·invStd·|Σ dy·x̂|/M in dx (in units of w·invStd) whatever dx's size: hundreds of
/// thousands of roundings on float data with |mean| / std = 1e6. Now every rounding is relative to one of dx's terms:
/// |dx - truth| is a few u·|w|·invStd·(|dy| + |Σdy|/M + (|x̂| + 1)·|Σ dy·x̂|/M) whatever |mean| / std
/// (<c>OutputAccuracyTests</c>: at most 8u of it on float data with |mean| / std up to 1e6). The sums are taken in double, each product (x - mean)·dy added with one fused multiply-add,
/// in <see cref="Chunk"/>'s order: chunks of runs in <see cref="Lanes"/> lanes folded by halves, the chunks' sums added
/// in memory order; in rows, each channel's rows in order. Work items' sums add in item order
/// (<see cref="NormLayout.CombinePartials"/>), so the bits depend on the shape alone, never on the thread count or the
/// vector width. The input gradient is computed in T, as libtorch does, each element in the same operations on every
/// width, in registers of Vector256 at most, as <see cref="BatchNormTransform"/> explains. Passes over memory: one read
/// of x and dy for the sums; one read of x and dy and one write of dx.
/// </remarks>
[SkipLocalsInit] // the stack buffers are written before they are read (lanes) or masked off (tails)
internal static class BatchNormBackward
{
    /// <summary>Accumulator lanes of a chunk of runs: element i of a run to lane i mod 16. Sixteen, not the statistics' 32,
    /// so that Vector512 (two registers) and Vector256 (four) both read the chunk in one pass: the backward reads each
    /// value once, where the statistics read each chunk twice anyway.</summary>
    public const int Lanes = 16;

    /// <summary>
    /// Σ dy and Σ (x - mean)·dy over <paramref name="runs"/> runs of <paramref name="length"/> values, <paramref name="stride"/>
    /// apart, from x[0] and dy[0] (the planes of one channel over a block of samples, or one plane): chunk by chunk, each
    /// in 16 lanes folded by halves, the chunks' sums added in order. x and dy may go on past the runs (the kernel then
    /// reads a run's last values from them rather than from a copy; what lies past a run never counts).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (double SumDy, double DotP) ReduceRuns<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int runs, int stride, int length, double mean)
        where T : unmanaged
    {
        Debug.Assert(runs >= 1 && length >= 1 && stride >= length && dy.Length == x.Length && x.Length >= (long)(runs - 1) * stride + length);
        return Lanes512<double>.IsHardwareAccelerated ? ReduceRuns<T, Pair<Lanes512<double>, double>>(x, dy, runs, stride, length, mean)
            : Lanes256<double>.IsHardwareAccelerated ? ReduceRuns<T, Quad<Lanes256<double>, double>>(x, dy, runs, stride, length, mean)
            : Lanes128<double>.IsHardwareAccelerated ? ReduceRuns<T, Quad<Lanes128<double>, double>>(x, dy, runs, stride, length, mean)
            : ReduceRuns<T, Quad<ScalarLane<double>, double>>(x, dy, runs, stride, length, mean);
    }

    /// <summary>Rows layout: adds Σ dy[r, c] into sumDy[c] and Σ (x[r, c] - mean[c])·dy[r, c] into dotP[c] over
    /// <paramref name="rows"/> rows of C = mean.Length values, each channel's rows in order. <paramref name="prefetch"/>: ask
    /// for the next chunk's rows while summing one (inputs read from memory; a hint, no effect on the sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReduceRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int rows, ReadOnlySpan<double> mean, Span<double> sumDy, Span<double> dotP,
                                     bool prefetch = false)
        where T : unmanaged
    {
        int channels = mean.Length;
        Debug.Assert(x.Length == (long)rows * channels && dy.Length == x.Length && sumDy.Length == channels && dotP.Length == channels);
        // Chunks of rows that stay in L1 while the blocks of channels sweep them; per channel the rows still add in order.
        int rowsPerChunk = Chunk.RowsFor(channels);
        for (int first = 0; first < rows; first += rowsPerChunk)
        {
            int end = Math.Min(rows, first + rowsPerChunk), c = 0;
            if (prefetch)
            {
                Spans.Prefetch(x, end * channels, rowsPerChunk * channels);
                Spans.Prefetch(dy, end * channels, rowsPerChunk * channels);
            }

            if (Lanes512<double>.IsHardwareAccelerated) c = ReduceColumns<T, Lanes512<double>>(x, dy, first, end, c, mean, sumDy, dotP);
            if (Lanes256<double>.IsHardwareAccelerated) c = ReduceColumns<T, Lanes256<double>>(x, dy, first, end, c, mean, sumDy, dotP);
            if (Lanes128<double>.IsHardwareAccelerated) c = ReduceColumns<T, Lanes128<double>>(x, dy, first, end, c, mean, sumDy, dotP);
            ReduceColumns<T, ScalarLane<double>>(x, dy, first, end, c, mean, sumDy, dotP);
        }
    }

    /// <summary>dx over a contiguous run of one channel: (dy - gradMean - (x - centre)·k)·scale with batch statistics, dy·scale
    /// with running statistics (the coefficients as the remarks define them). dx is dy, or memory apart from x and dy.
    /// <paramref name="nonTemporal"/>: dx written past the caches, as <see cref="BatchNormTransform.ApplyRun{T}"/> does y
    /// (the same values; <see cref="BatchNormTransform.FenceStores"/> before another thread reads dx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InputGradientRun<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, T centre, T gradMean, T k, T scale, bool batchStatistics,
                                           bool nonTemporal = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(dy.Length == x.Length && dx.Length == x.Length && Spans.SameOrApart(dy, dx) && Spans.SameOrApart(x, dx));
        var channel = new ChannelGradient<T>(centre, gradMean, k, scale);
        if (nonTemporal && Lanes256<T>.IsHardwareAccelerated && x.Length >= 2 * Lanes256<T>.Count)
        {
            InputGradientRunNonTemporal<T, Lanes256<T>>(x, dy, dx, channel, batchStatistics);
            return;
        }

        // The widest register that the run fills, Vector256 at most (see the remarks).
        if (Lanes256<T>.IsHardwareAccelerated && x.Length >= Lanes256<T>.Count) InputGradientRun<T, Lanes256<T>>(x, dy, dx, channel, batchStatistics);
        else if (Lanes128<T>.IsHardwareAccelerated && x.Length >= Lanes128<T>.Count) InputGradientRun<T, Lanes128<T>>(x, dy, dx, channel, batchStatistics);
        else InputGradientRun<T, ScalarLane<T>>(x, dy, dx, channel, batchStatistics);
    }

    /// <summary>Rows layout: dx[r, c] with per-channel centre, gradMean, k and scale, for <paramref name="rows"/> rows of C =
    /// centre.Length values. dx is dy, or memory apart from x and dy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InputGradientRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int rows, ReadOnlySpan<T> centre,
                                            ReadOnlySpan<T> gradMean, ReadOnlySpan<T> k, ReadOnlySpan<T> scale, bool batchStatistics)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = centre.Length;
        Debug.Assert(gradMean.Length == channels && k.Length == channels && scale.Length == channels && x.Length == (long)rows * channels
                     && dy.Length == x.Length && dx.Length == x.Length && Spans.SameOrApart(dy, dx) && Spans.SameOrApart(x, dx));
        var channel = new ChannelGradients<T>(centre, gradMean, k, scale);
        // The widest register that a row fills, Vector256 at most (see the remarks).
        if (Lanes256<T>.IsHardwareAccelerated && channels >= Lanes256<T>.Count) InputGradientRows<T, Lanes256<T>>(x, dy, dx, rows, channel, batchStatistics);
        else if (Lanes128<T>.IsHardwareAccelerated && channels >= Lanes128<T>.Count) InputGradientRows<T, Lanes128<T>>(x, dy, dx, rows, channel, batchStatistics);
        else InputGradientRows<T, ScalarLane<T>>(x, dy, dx, rows, channel, batchStatistics);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double SumDy, double DotP) ReduceRuns<T, TBlock>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int runs, int stride, int length, double mean)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        double sumDy = 0, dotP = 0;
        foreach (RunChunk chunk in new RunChunks(runs, stride, length))
        {
            (double chunkSumDy, double chunkDotP) = ReduceChunk<T, TBlock>(x, dy, chunk, mean);
            sumDy += chunkSumDy;
            dotP += chunkDotP;
        }

        return (sumDy, dotP);
    }

    /// <summary>One chunk: Σ dy and Σ (x - mean)·dy in the 16 lanes each (element i of a run to lane i mod 16), a block of
    /// lanes at a time, folded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double SumDy, double DotP) ReduceChunk<T, TBlock>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, in RunChunk chunk, double mean)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        int full = chunk.Length - chunk.Length % Lanes, tailLength = chunk.Length - full;
        Span<T> xPadded = stackalloc T[Lanes], dyPadded = stackalloc T[Lanes];
        Span<double> lanes = stackalloc double[2 * Lanes];
        TBlock m = TBlock.Create(mean);
        for (int lane = 0; lane < Lanes; lane += TBlock.Count)
        {
            TBlock keep = TBlock.LanesBelow(tailLength - lane), s = default, p = default;
            for (int r = 0; r < chunk.Runs; r++)
            {
                int run = chunk.Offset + r * chunk.Stride;
                // s += dy;  p += (x - mean)·dy
                for (int i = run + lane; i < run + full; i += Lanes)
                {
                    TBlock g = TBlock.Load(dy, i);
                    s += g;
                    p = TBlock.FusedMultiplyAdd(TBlock.Load(x, i) - m, g, p);
                }

                if (tailLength > lane)
                {
                    // The run's last values: lanes past them add +0 (whatever lies there, NaN included).
                    int at = run + full + lane, valid = Math.Min(tailLength - lane, TBlock.Count);
                    TBlock g = TBlock.Keep(TBlock.Load(Chunk.Tail(dy, at, valid, TBlock.Count, dyPadded), 0), keep);
                    TBlock d = TBlock.Keep(TBlock.Load(Chunk.Tail(x, at, valid, TBlock.Count, xPadded), 0) - m, keep);
                    s += g;
                    p = TBlock.FusedMultiplyAdd(d, g, p);
                }
            }

            if (TBlock.Count == Lanes) return (TBlock.FoldLanes(s), TBlock.FoldLanes(p));
            s.Store(lanes, lane);
            p.Store(lanes, Lanes + lane);
        }

        return (Chunk.Fold(lanes[..Lanes]), Chunk.Fold(lanes[Lanes..]));
    }

    /// <summary>Rows layout: the rows [first, end) for the channels from c on, four registers at a time, then two, then one;
    /// returns the first channel left (fewer than one register).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ReduceColumns<T, TLanes>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int first, int end, int c,
                                                ReadOnlySpan<double> mean, Span<double> sumDy, Span<double> dotP)
        where T : unmanaged where TLanes : struct, ILanes<TLanes, double>
    {
        if (mean.Length - c >= Quad<TLanes, double>.Count) c = ReduceColumnBlocks<T, Quad<TLanes, double>>(x, dy, first, end, c, mean, sumDy, dotP);
        if (mean.Length - c >= Pair<TLanes, double>.Count) c = ReduceColumnBlocks<T, Pair<TLanes, double>>(x, dy, first, end, c, mean, sumDy, dotP);
        if (mean.Length - c >= TLanes.Count) c = ReduceColumnBlocks<T, TLanes>(x, dy, first, end, c, mean, sumDy, dotP);
        return c;
    }

    /// <summary>Rows layout: the rows [first, end) for each block of channels from c on (a separate method per block type,
    /// each small enough for the JIT to keep the sums in registers); returns the first channel left.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int ReduceColumnBlocks<T, TBlock>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int first, int end, int c,
                                                     ReadOnlySpan<double> mean, Span<double> sumDy, Span<double> dotP)
        where T : unmanaged where TBlock : struct, ILanes<TBlock, double>
    {
        int channels = mean.Length;
        for (; c <= channels - TBlock.Count; c += TBlock.Count)
        {
            TBlock m = TBlock.Load(mean, c), s = TBlock.Load(sumDy, c), p = TBlock.Load(dotP, c);
            // s += dy;  p += (x - mean)·dy, row after row
            for (int r = first; r < end; r++)
            {
                TBlock g = TBlock.Load(dy, r * channels + c);
                s += g;
                p = TBlock.FusedMultiplyAdd(TBlock.Load(x, r * channels + c) - m, g, p);
            }

            s.Store(sumDy, c);
            p.Store(dotP, c);
        }

        return c;
    }

    /// <summary>The run in registers of <typeparamref name="TLanes"/> (at least one register long), the last values as
    /// <see cref="BatchNormTransform"/> does them. Internal for the tests, which also run the widths the dispatch skips.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InputGradientRun<T, TLanes>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, ChannelGradient<T> channel, bool batchStatistics)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
    {
        int i = InputGradientRunBlocks<T, TLanes>(x, dy, dx, channel, batchStatistics, 0);
        if (i < x.Length && !Spans.SameStart(dy, dx) && !Spans.SameStart(x, dx))
            InputGradientRunBlocks<T, TLanes>(x, dy, dx, channel, batchStatistics, x.Length - TLanes.Count);
        else InputGradientRunBlocks<T, ScalarLane<T>>(x, dy, dx, channel, batchStatistics, i);
    }

    /// <summary>The run with dx written past the caches: the values before dx's first register-aligned position one at a
    /// time, the aligned registers with non-temporal stores, the last values one at a time. Internal for the tests.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InputGradientRunNonTemporal<T, TLanes>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, ChannelGradient<T> channel, bool batchStatistics)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
    {
        int head = Math.Min(BatchNormTransform.ElementsToAlignment<T, TLanes>(dx), x.Length), i = head;
        InputGradientRunBlocks<T, ScalarLane<T>>(x[..head], dy[..head], dx[..head], channel, batchStatistics, 0);
        TLanes centre = TLanes.Create(channel.Centre), gradMean = TLanes.Create(channel.GradMean), k = TLanes.Create(channel.K), scale = TLanes.Create(channel.Scale);
        if (batchStatistics)
        {
            // dx = (dy - gradMean - (x - centre)·k)·scale
            for (; i <= x.Length - TLanes.Count; i += TLanes.Count)
                ((TLanes.Load(dy, i) - gradMean - (TLanes.Load(x, i) - centre) * k) * scale).StoreNonTemporal(dx, i);
        }
        else
        {
            // dx = dy·scale
            for (; i <= x.Length - TLanes.Count; i += TLanes.Count)
                (TLanes.Load(dy, i) * scale).StoreNonTemporal(dx, i);
        }

        InputGradientRunBlocks<T, ScalarLane<T>>(x, dy, dx, channel, batchStatistics, i);
    }

    /// <summary>The run from i on, a block at a time while a whole block fits; returns where the blocks end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int InputGradientRunBlocks<T, TBlock>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, ChannelGradient<T> channel,
                                                         bool batchStatistics, int i)
        where T : unmanaged, IFloatingPointIeee754<T> where TBlock : struct, ILanes<TBlock, T>
    {
        TBlock centre = TBlock.Create(channel.Centre), gradMean = TBlock.Create(channel.GradMean), k = TBlock.Create(channel.K), scale = TBlock.Create(channel.Scale);
        if (batchStatistics)
        {
            // dx = (dy - gradMean - (x - centre)·k)·scale
            for (; i <= x.Length - TBlock.Count; i += TBlock.Count)
                ((TBlock.Load(dy, i) - gradMean - (TBlock.Load(x, i) - centre) * k) * scale).Store(dx, i);
            return i;
        }

        // dx = dy·scale
        for (; i <= x.Length - TBlock.Count; i += TBlock.Count)
            (TBlock.Load(dy, i) * scale).Store(dx, i);
        return i;
    }

    /// <summary>Every row in registers of <typeparamref name="TLanes"/> (a row is at least one register long), as
    /// <see cref="InputGradientRun{T, TLanes}"/> does a run.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InputGradientRows<T, TLanes>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int rows, ChannelGradients<T> channels, bool batchStatistics)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
    {
        int count = channels.Centre.Length;
        bool inPlace = Spans.SameStart(dy, dx) || Spans.SameStart(x, dx);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xRow = x.Slice(r * count, count), dyRow = dy.Slice(r * count, count);
            Span<T> dxRow = dx.Slice(r * count, count);
            int c = InputGradientRowBlocks<T, TLanes>(xRow, dyRow, dxRow, channels, batchStatistics, 0);
            if (c < count && !inPlace) InputGradientRowBlocks<T, TLanes>(xRow, dyRow, dxRow, channels, batchStatistics, count - TLanes.Count);
            else InputGradientRowBlocks<T, ScalarLane<T>>(xRow, dyRow, dxRow, channels, batchStatistics, c);
        }
    }

    /// <summary>One row from channel c on, a block of channels at a time while a whole block fits; returns where the blocks end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int InputGradientRowBlocks<T, TBlock>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, ChannelGradients<T> channels,
                                                         bool batchStatistics, int c)
        where T : unmanaged, IFloatingPointIeee754<T> where TBlock : struct, ILanes<TBlock, T>
    {
        if (batchStatistics)
        {
            // dx[c] = (dy[c] - gradMean[c] - (x[c] - centre[c])·k[c])·scale[c]
            for (; c <= x.Length - TBlock.Count; c += TBlock.Count)
                ((TBlock.Load(dy, c) - TBlock.Load(channels.GradMean, c) - (TBlock.Load(x, c) - TBlock.Load(channels.Centre, c)) * TBlock.Load(channels.K, c))
                 * TBlock.Load(channels.Scale, c)).Store(dx, c);
            return c;
        }

        // dx[c] = dy[c]·scale[c]
        for (; c <= x.Length - TBlock.Count; c += TBlock.Count)
            (TBlock.Load(dy, c) * TBlock.Load(channels.Scale, c)).Store(dx, c);
        return c;
    }

    /// <summary>Rows layout read as one run, in memory order (for inputs read from memory, as
    /// <see cref="BatchNormTransform.ApplyRowsAsRun{T}"/>): dx[i] with channel c = i mod C, the coefficients each held twice
    /// over (length 2C). <paramref name="nonTemporal"/>: dx past the caches. C ≥ a Vector256 register
    /// (<see cref="BatchNormTransform.AppliesRowsAsRun{T}"/>); dx is dy, or memory apart from x and dy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void InputGradientRowsAsRun<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, ChannelGradients<T> channels, bool batchStatistics, bool nonTemporal)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(BatchNormTransform.AppliesRowsAsRun<T>(channels.Centre.Length / 2) && x.Length % (channels.Centre.Length / 2) == 0
                     && dy.Length == x.Length && dx.Length == x.Length && Spans.SameOrApart(dy, dx) && Spans.SameOrApart(x, dx));
        InputGradientRowsAsRun<T, Lanes256<T>>(x, dy, dx, channels, batchStatistics, nonTemporal);
    }

    /// <summary><see cref="InputGradientRowsAsRun{T}"/> in registers of <typeparamref name="TLanes"/>: with non-temporal
    /// stores, the values before dx's first aligned register one at a time; the registers; the last values one at a time.
    /// Internal for the tests.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InputGradientRowsAsRun<T, TLanes>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, ChannelGradients<T> channels, bool batchStatistics,
                                                           bool nonTemporal)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
    {
        int width = channels.Centre.Length / 2, i = 0, c = 0;
        int head = nonTemporal ? Math.Min(BatchNormTransform.ElementsToAlignment<T, TLanes>(dx), x.Length) : 0;
        for (; i < head; i++)
        {
            OneValue(x, dy, dx, i, channels, c, batchStatistics);
            if (++c == width) c = 0;
        }

        for (; i <= x.Length - TLanes.Count; i += TLanes.Count)
        {
            // dx = (dy - gradMean - (x - centre)·k)·scale, or dy·scale
            TLanes value = batchStatistics
                ? (TLanes.Load(dy, i) - TLanes.Load(channels.GradMean, c) - (TLanes.Load(x, i) - TLanes.Load(channels.Centre, c)) * TLanes.Load(channels.K, c))
                  * TLanes.Load(channels.Scale, c)
                : TLanes.Load(dy, i) * TLanes.Load(channels.Scale, c);
            if (nonTemporal) value.StoreNonTemporal(dx, i);
            else value.Store(dx, i);
            c += TLanes.Count;
            if (c >= width) c -= width;
        }

        for (; i < x.Length; i++)
        {
            OneValue(x, dy, dx, i, channels, c, batchStatistics);
            if (++c == width) c = 0;
        }

        static void OneValue(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int i, ChannelGradients<T> channels, int c, bool batchStatistics)
        {
            var channel = new ChannelGradient<T>(channels.Centre[c], channels.GradMean[c], channels.K[c], channels.Scale[c]);
            InputGradientRunBlocks<T, ScalarLane<T>>(x.Slice(i, 1), dy.Slice(i, 1), dx.Slice(i, 1), channel, batchStatistics, 0);
        }
    }

    /// <summary>A channel's input-gradient coefficients, in T.</summary>
    internal readonly record struct ChannelGradient<T>(T Centre, T GradMean, T K, T Scale);

    /// <summary>Every channel's input-gradient coefficients, in T (rows layout).</summary>
    internal readonly ref struct ChannelGradients<T>(ReadOnlySpan<T> centre, ReadOnlySpan<T> gradMean, ReadOnlySpan<T> k, ReadOnlySpan<T> scale)
    {
        public ReadOnlySpan<T> Centre { get; } = centre;

        public ReadOnlySpan<T> GradMean { get; } = gradMean;

        public ReadOnlySpan<T> K { get; } = k;

        public ReadOnlySpan<T> Scale { get; } = scale;
    }
}
