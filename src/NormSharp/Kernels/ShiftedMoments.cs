using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>
/// One read pass of batch statistics: the first two moments of x around a shift K, summed in double.
/// </summary>
/// <remarks>
/// <code>
/// S1 = Σ (x - K)        S2 = Σ (x - K)²
/// mean   = K + S1 / M
/// varSum = S2 - S1² / M          ( = Σ (x - mean)² )
/// </code>
/// With K a value of the channel itself, |K - mean| is at most a few standard deviations, so the
/// cancellation in S2 - S1²/M costs at most about log2(M) bits of double precision: accurate for float
/// data and for double data alike, where E[x²] - E[x]² without a shift loses everything once
/// |mean| ≫ std. One read of the data, against two for the two-pass method.
/// <para>Summation order, fixed by the shape alone (never by the thread count or the vector width):
/// element i of a contiguous run goes to lane i mod 16; runs of a channel add into the same lanes; the
/// 16 lanes are summed in lane order at the end. The Vector256 path and the scalar path are
/// bit-identical.</para>
/// </remarks>
internal static class ShiftedMoments
{
    /// <summary>Logical accumulator lanes per moment.</summary>
    public const int Lanes = 16;

    /// <summary>
    /// Adds Σ (x - K) and Σ (x - K)² of <paramref name="runs"/> contiguous runs of <paramref name="length"/> values,
    /// <paramref name="stride"/> apart (the planes of one channel), into <paramref name="sum"/> and <paramref name="squares"/>
    /// (16 lanes each; element i of a run goes to lane i mod 16). The lanes stay in registers across the runs; a run's
    /// last length mod 16 values are added as a zero-padded vector, which leaves the other lanes' bits unchanged.
    /// </summary>
    public static void AccumulateRuns(ReadOnlySpan<float> x, int runs, int stride, int length, double shift, Span<double> sum, Span<double> squares)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int r = 0; r < runs; r++) AccumulateScalar(x.Slice(r * stride, length), shift, sum, squares);
            return;
        }

        Vector256<double> k = Vector256.Create(shift);
        Vector256<double> s0 = Load(sum, 0), s1 = Load(sum, 4), s2 = Load(sum, 8), s3 = Load(sum, 12);
        Vector256<double> q0 = Load(squares, 0), q1 = Load(squares, 4), q2 = Load(squares, 8), q3 = Load(squares, 12);
        int full = length - length % Lanes;
        Span<float> tail = stackalloc float[Lanes];
        Vector256<float> padding = Vector256.Create((float)shift);
        Vector256<float> tailLow = Vector256.LessThan(Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7), Vector256.Create((float)(length - full)));
        Vector256<float> tailHigh = Vector256.LessThan(Vector256.Create(8f, 9, 10, 11, 12, 13, 14, 15), Vector256.Create((float)(length - full)));
        for (int r = 0; r < runs; r++)
        {
            ref float source = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), r * stride);
            for (int i = 0; i <= length - Lanes; i += Lanes)
            {
                (Vector256<double> a, Vector256<double> b) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)i));
                (Vector256<double> c, Vector256<double> d) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)(i + 8)));
                a -= k; b -= k; c -= k; d -= k;
                s0 += a; s1 += b; s2 += c; s3 += d;
                q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d;
            }

            if (full < length)
            {
                // Lanes past the run hold the shift itself, so their d is exactly 0 and they add nothing. Where the
                // buffer goes on past the run, load and mask; at its very end, copy into a padded buffer.
                Vector256<float> low, high;
                if (r * stride + full + Lanes <= x.Length)
                {
                    low = Vector256.ConditionalSelect(tailLow, Vector256.LoadUnsafe(ref source, (nuint)full), padding);
                    high = Vector256.ConditionalSelect(tailHigh, Vector256.LoadUnsafe(ref source, (nuint)(full + 8)), padding);
                }
                else
                {
                    tail.Fill((float)shift);
                    MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref source, full), length - full).CopyTo(tail);
                    low = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(tail));
                    high = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(tail), 8);
                }

                (Vector256<double> a, Vector256<double> b) = Vector256.Widen(low);
                (Vector256<double> c, Vector256<double> d) = Vector256.Widen(high);
                a -= k; b -= k; c -= k; d -= k;
                s0 += a; s1 += b; s2 += c; s3 += d;
                q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d;
            }
        }

        Store(s0, sum, 0); Store(s1, sum, 4); Store(s2, sum, 8); Store(s3, sum, 12);
        Store(q0, squares, 0); Store(q1, squares, 4); Store(q2, squares, 8); Store(q3, squares, 12);
    }

    /// <inheritdoc cref="AccumulateRuns(ReadOnlySpan{float}, int, int, int, double, Span{double}, Span{double})"/>
    public static void AccumulateRuns(ReadOnlySpan<double> x, int runs, int stride, int length, double shift, Span<double> sum, Span<double> squares)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int r = 0; r < runs; r++) AccumulateScalar(x.Slice(r * stride, length), shift, sum, squares);
            return;
        }

        Vector256<double> k = Vector256.Create(shift);
        Vector256<double> s0 = Load(sum, 0), s1 = Load(sum, 4), s2 = Load(sum, 8), s3 = Load(sum, 12);
        Vector256<double> q0 = Load(squares, 0), q1 = Load(squares, 4), q2 = Load(squares, 8), q3 = Load(squares, 12);
        int full = length - length % Lanes;
        Span<double> tail = stackalloc double[Lanes];
        for (int r = 0; r < runs; r++)
        {
            ref double source = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), r * stride);
            int i = 0;
            for (; i <= length - Lanes; i += Lanes)
                Add(ref source, i, k, ref s0, ref s1, ref s2, ref s3, ref q0, ref q1, ref q2, ref q3);
            if (full < length)
            {
                tail.Fill(shift);
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref source, full), length - full).CopyTo(tail);
                Add(ref MemoryMarshal.GetReference(tail), 0, k, ref s0, ref s1, ref s2, ref s3, ref q0, ref q1, ref q2, ref q3);
            }
        }

        Store(s0, sum, 0); Store(s1, sum, 4); Store(s2, sum, 8); Store(s3, sum, 12);
        Store(q0, squares, 0); Store(q1, squares, 4); Store(q2, squares, 8); Store(q3, squares, 12);
    }

    /// <summary>One contiguous run (the lane model in plain code: the scalar path, and the reference of the tests).</summary>
    public static void AccumulateRun(ReadOnlySpan<float> x, double shift, Span<double> sum, Span<double> squares) =>
        AccumulateRuns(x, 1, x.Length, x.Length, shift, sum, squares);

    /// <inheritdoc cref="AccumulateRun(ReadOnlySpan{float}, double, Span{double}, Span{double})"/>
    public static void AccumulateRun(ReadOnlySpan<double> x, double shift, Span<double> sum, Span<double> squares) =>
        AccumulateRuns(x, 1, x.Length, x.Length, shift, sum, squares);

    private static void AccumulateScalar<T>(ReadOnlySpan<T> x, double shift, Span<double> sum, Span<double> squares)
        where T : System.Numerics.INumberBase<T>
    {
        for (int i = 0; i < x.Length; i++)
        {
            double d = double.CreateTruncating(x[i]) - shift;
            sum[i % Lanes] += d;
            squares[i % Lanes] += d * d;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(ref double source, int i, Vector256<double> k, ref Vector256<double> s0, ref Vector256<double> s1, ref Vector256<double> s2,
                            ref Vector256<double> s3, ref Vector256<double> q0, ref Vector256<double> q1, ref Vector256<double> q2, ref Vector256<double> q3)
    {
        Vector256<double> a = Vector256.LoadUnsafe(ref source, (nuint)i) - k;
        Vector256<double> b = Vector256.LoadUnsafe(ref source, (nuint)(i + 4)) - k;
        Vector256<double> c = Vector256.LoadUnsafe(ref source, (nuint)(i + 8)) - k;
        Vector256<double> d = Vector256.LoadUnsafe(ref source, (nuint)(i + 12)) - k;
        s0 += a; s1 += b; s2 += c; s3 += d;
        q0 += a * a; q1 += b * b; q2 += c * c; q3 += d * d;
    }

    /// <summary>
    /// Rows layout ((N, C) input, or channels-last): x holds <paramref name="rows"/> rows of C values; adds, per
    /// channel c, Σ (x - K[c]) into sum[c] and Σ (x - K[c])² into squares[c], row after row.
    /// </summary>
    public static void AccumulateRows(ReadOnlySpan<float> x, int rows, ReadOnlySpan<double> shift, Span<double> sum, Span<double> squares)
    {
        int channels = shift.Length;
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Tiles of rows small enough to stay in L1 (16 KB); within a tile, 16 (then 8) channels at a time with the
            // accumulators in registers. Per channel the rows still add in order: the scalar loop's bits.
            int tile = Math.Max(4, 4096 / channels);
            int vectorChannels = channels - channels % 8;
            for (int first = 0; first < rows; first += tile)
            {
                int count = Math.Min(tile, rows - first);
                AccumulateRowTile(x.Slice(first * channels, count * channels), count, channels, shift, sum, squares);
            }

            c = vectorChannels;
        }

        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = x.Slice(r * channels, channels);
            for (int ch = c; ch < channels; ch++)
            {
                double d = row[ch] - shift[ch];
                sum[ch] += d;
                squares[ch] += d * d;
            }
        }
    }

    private static void AccumulateRowTile(ReadOnlySpan<float> x, int rows, int channels, ReadOnlySpan<double> shift, Span<double> sum, Span<double> squares)
    {
        ref float source = ref MemoryMarshal.GetReference(x);
        ref double s = ref MemoryMarshal.GetReference(sum), q = ref MemoryMarshal.GetReference(squares);
        ref double k = ref MemoryMarshal.GetReference(shift);
        int c = 0;
            for (; c <= channels - 16; c += 16)
        {
            Vector256<double> k0 = Vector256.LoadUnsafe(ref k, (nuint)c), k1 = Vector256.LoadUnsafe(ref k, (nuint)(c + 4));
            Vector256<double> k2 = Vector256.LoadUnsafe(ref k, (nuint)(c + 8)), k3 = Vector256.LoadUnsafe(ref k, (nuint)(c + 12));
            Vector256<double> s0 = Vector256.LoadUnsafe(ref s, (nuint)c), s1 = Vector256.LoadUnsafe(ref s, (nuint)(c + 4));
            Vector256<double> s2 = Vector256.LoadUnsafe(ref s, (nuint)(c + 8)), s3 = Vector256.LoadUnsafe(ref s, (nuint)(c + 12));
            Vector256<double> q0 = Vector256.LoadUnsafe(ref q, (nuint)c), q1 = Vector256.LoadUnsafe(ref q, (nuint)(c + 4));
            Vector256<double> q2 = Vector256.LoadUnsafe(ref q, (nuint)(c + 8)), q3 = Vector256.LoadUnsafe(ref q, (nuint)(c + 12));
            for (int r = 0; r < rows; r++)
            {
                (Vector256<double> a, Vector256<double> b) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)(r * channels + c)));
                (Vector256<double> d, Vector256<double> e) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)(r * channels + c + 8)));
                a -= k0; b -= k1; d -= k2; e -= k3;
                s0 += a; s1 += b; s2 += d; s3 += e;
                q0 += a * a; q1 += b * b; q2 += d * d; q3 += e * e;
            }

            s0.StoreUnsafe(ref s, (nuint)c); s1.StoreUnsafe(ref s, (nuint)(c + 4)); s2.StoreUnsafe(ref s, (nuint)(c + 8)); s3.StoreUnsafe(ref s, (nuint)(c + 12));
            q0.StoreUnsafe(ref q, (nuint)c); q1.StoreUnsafe(ref q, (nuint)(c + 4)); q2.StoreUnsafe(ref q, (nuint)(c + 8)); q3.StoreUnsafe(ref q, (nuint)(c + 12));
        }

        for (; c <= channels - 8; c += 8)
        {
            Vector256<double> ka = Vector256.LoadUnsafe(ref k, (nuint)c), kb = Vector256.LoadUnsafe(ref k, (nuint)(c + 4));
            Vector256<double> sa = Vector256.LoadUnsafe(ref s, (nuint)c), sb = Vector256.LoadUnsafe(ref s, (nuint)(c + 4));
            Vector256<double> qa = Vector256.LoadUnsafe(ref q, (nuint)c), qb = Vector256.LoadUnsafe(ref q, (nuint)(c + 4));
            for (int r = 0; r < rows; r++)
            {
                (Vector256<double> a, Vector256<double> b) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)(r * channels + c)));
                a -= ka;
                b -= kb;
                sa += a; sb += b;
                qa += a * a; qb += b * b;
            }

            sa.StoreUnsafe(ref s, (nuint)c); sb.StoreUnsafe(ref s, (nuint)(c + 4));
            qa.StoreUnsafe(ref q, (nuint)c); qb.StoreUnsafe(ref q, (nuint)(c + 4));
        }
    }

    /// <inheritdoc cref="AccumulateRows(ReadOnlySpan{float}, int, ReadOnlySpan{double}, Span{double}, Span{double})"/>
    public static void AccumulateRows(ReadOnlySpan<double> x, int rows, ReadOnlySpan<double> shift, Span<double> sum, Span<double> squares)
    {
        int channels = shift.Length;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<double> row = x.Slice(r * channels, channels);
            int c = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                ref double s = ref MemoryMarshal.GetReference(sum), q = ref MemoryMarshal.GetReference(squares);
                ref double k = ref MemoryMarshal.GetReference(shift);
                for (; c <= channels - 4; c += 4)
                {
                    Vector256<double> a = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(row), (nuint)c) - Vector256.LoadUnsafe(ref k, (nuint)c);
                    (Vector256.LoadUnsafe(ref s, (nuint)c) + a).StoreUnsafe(ref s, (nuint)c);
                    (Vector256.LoadUnsafe(ref q, (nuint)c) + a * a).StoreUnsafe(ref q, (nuint)c);
                }
            }

            for (; c < channels; c++)
            {
                double d = row[c] - shift[c];
                sum[c] += d;
                squares[c] += d * d;
            }
        }
    }

    /// <summary>Σ of the 16 lanes, in lane order.</summary>
    public static double SumLanes(ReadOnlySpan<double> lanes)
    {
        double total = 0;
        for (int l = 0; l < Lanes; l++) total += lanes[l];
        return total;
    }

    /// <summary>(mean, varSum) from the shifted moments of M values, given 1 / M (multiplications: this runs once per
    /// channel per call, where divisions cost more than the small channels' data).</summary>
    public static (double Mean, double VarSum) MeanAndVarSum(double shift, double sum, double squares, double inverseCount)
    {
        double varSum = squares - sum * sum * inverseCount;
        // Rounding can leave a tiny negative for a constant channel; NaN and infinities pass through.
        return (shift + sum * inverseCount, varSum < 0 ? 0.0 : varSum);
    }

    /// <summary>invStd = 1 / sqrt(var + eps), with ATen's guard: 0 when var == 0 and eps == 0.</summary>
    public static double InvStd(double variance, double eps) =>
        variance == 0.0 && eps == 0.0 ? 0.0 : 1.0 / Math.Sqrt(variance + eps);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Load(Span<double> lanes, int at) => Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(lanes), (nuint)at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<double> value, Span<double> lanes, int at) => value.StoreUnsafe(ref MemoryMarshal.GetReference(lanes), (nuint)at);
}
