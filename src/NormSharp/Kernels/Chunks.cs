using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NormSharp.Kernels;

/// <summary>
/// The summation order the reductions share (<see cref="ShiftedMoments"/> and <see cref="BatchNormBackward"/>), fixed by
/// the shape alone, never by the thread count or the vector width.
/// </summary>
/// <remarks>
/// A channel's values are summed in chunks of at most <see cref="Length"/> values, small enough to stay in L1 while a
/// kernel reads them more than once: a slice of a long run, a group of short runs (<see cref="RunChunks"/>), or
/// <see cref="RowsFor"/> rows of a column of channels. In a chunk of runs, element i of a run goes to lane i mod n (n =
/// 32 for the statistics, 16 for the backward sums), the runs add into the same lanes in order, and the lanes fold by
/// halves (lane i += lane i + w for w = n/2, ..., 2, 1). A kernel covers the n lanes with blocks of one, two or four
/// registers: in one pass when a block holds them all, else in several passes, each after the first reading the chunk
/// from L1; every lane sees the same values in the same order on every path. A run's last length mod n values add as a
/// masked block: lanes past them add +0, which leaves a lane's value unchanged (a lane starts at +0, so it is never -0).
/// In rows, each channel is a lane of its own and adds its rows in order.
/// </remarks>
internal static class Chunk
{
    /// <summary>Values of one channel per chunk (a multiple of the kernels' lane counts): 8 KB of float, 16 KB of double.</summary>
    public const int Length = 2048;

    /// <summary>Rows layout: rows per chunk for C channels, about <see cref="Length"/> values and at least 8 rows. Few
    /// rows keep a column's chunk in L1 when the rows are a multiple of 4 KB apart (the lines then share one cache set).</summary>
    public static int RowsFor(int channels) => Math.Max(8, Length / channels);

    /// <summary>Folds the lanes (a power of two) by halves: lane i += lane i + w for w = n/2, ..., 2, 1; returns lane 0.</summary>
    public static double Fold(Span<double> lanes)
    {
        for (int width = lanes.Length / 2; width >= 1; width /= 2)
            for (int i = 0; i < width; i++) lanes[i] += lanes[i + width];
        return lanes[0];
    }

    /// <summary>Where to load <paramref name="readable"/> values from for the <paramref name="valid"/> values at x[at]: x
    /// itself when that stays inside x (the values past the run are masked off), else a copy in <paramref name="padded"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReadOnlySpan<T> Tail<T>(ReadOnlySpan<T> x, int at, int valid, int readable, Span<T> padded)
    {
        ref T origin = ref MemoryMarshal.GetReference(x);
        if (at + readable <= x.Length) return MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref origin, at), readable);
        // At the very end of x: a plain loop (no call, which would make the JIT spill the accumulators).
        ref T copy = ref MemoryMarshal.GetReference(padded);
        for (int j = 0; j < valid; j++) Unsafe.Add(ref copy, j) = Unsafe.Add(ref origin, at + j);
        return padded;
    }
}

/// <summary>A chunk of <see cref="Runs"/> runs of <see cref="Length"/> values, <see cref="Stride"/> apart, from x[<see cref="Offset"/>].
/// Kernels take it by <c>in</c>: passed by value, it is written field by field and read back as one block, a store the
/// processor cannot forward (about 15 ns per chunk, measured on 8x8 planes).</summary>
/// <param name="Offset">Where the chunk's first run starts.</param>
/// <param name="Runs">Runs in the chunk.</param>
/// <param name="Stride">Distance between the runs' starts.</param>
/// <param name="Length">Values per run.</param>
/// <param name="NextDistance">How far after <paramref name="Offset"/> the next chunk starts (or, for a single run, the
/// values that follow it: the next call's); 0 when nothing follows.</param>
internal readonly record struct RunChunk(int Offset, int Runs, int Stride, int Length, int NextDistance)
{
    /// <summary>Values in the chunk.</summary>
    public double Count => (double)Runs * Length;
}

/// <summary>
/// The chunks of <c>runs</c> runs of <c>length</c> values, <c>stride</c> apart, in memory order: a run longer than
/// <see cref="Chunk.Length"/> is cut into slices of that length (the last one shorter), shorter runs are grouped
/// <see cref="Chunk.Length"/> / length at a time.
/// </summary>
internal struct RunChunks(int runs, int stride, int length)
{
    private int run, start; // the next chunk's run, and where in it the chunk starts

    public RunChunk Current { get; private set; }

    public readonly RunChunks GetEnumerator() => this;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MoveNext()
    {
        if (run >= runs) return false;
        if (length > Chunk.Length)
        {
            // The next chunk: further along this run, the next run, or (one run) the values that follow it.
            int next = start + Chunk.Length < length ? start + Chunk.Length : run + 1 < runs ? stride : runs == 1 ? length : -1;
            Current = new(run * stride + start, 1, stride, Math.Min(Chunk.Length, length - start), next < 0 ? 0 : next - start);
            start += Chunk.Length;
            if (start >= length) (run, start) = (run + 1, 0);
            return true;
        }

        int chunkRuns = Math.Min(Chunk.Length / length, runs - run);
        Current = new(run * stride, chunkRuns, stride, length, run + chunkRuns < runs ? chunkRuns * stride : runs == 1 ? length : 0);
        run += chunkRuns;
        return true;
    }
}
