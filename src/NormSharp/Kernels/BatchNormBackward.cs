using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>
/// Gradients of batch normalization. Two passes: the two per-channel sums, then the input gradient.
/// </summary>
/// <remarks>
/// With x̂ = (x - mean)·invStd and sums over the M values of a channel (in double, lanes as in
/// <see cref="ShiftedMoments"/>, so the order is fixed by the shape):
/// <code>
/// sumDy = Σ dy                      gradBias   = sumDy
/// dotP  = Σ (x - mean)·dy           gradWeight = dotP·invStd      ( = Σ dy·x̂ )
/// batch statistics (training, or evaluation without buffers): the statistics depend on x, so
///     dx = (dy - sumDy/M - (x - mean)·k)·invStd·w,   k = dotP·invStd²/M
///        = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))
/// running statistics (evaluation with buffers): they are constants, so
///     dx = dy·invStd·w
/// </code>
/// (w = 1 without affine.) The input gradient is computed in T, as libtorch does. Passes over memory:
/// one read of x and dy for the sums; one read of x and dy and one write of dx.
/// </remarks>
internal static class BatchNormBackward
{
    /// <summary>Lanes of the backward sums: element i of a run to lane i mod 16.</summary>
    public const int Lanes = 16;

    /// <summary>Σ of the 16 lanes, in lane order.</summary>
    public static double SumLanes(ReadOnlySpan<double> lanes)
    {
        double total = 0;
        for (int l = 0; l < Lanes; l++) total += lanes[l];
        return total;
    }

    /// <summary>
    /// Float runs of one channel (<paramref name="runs"/> runs of <paramref name="length"/> values, <paramref name="stride"/>
    /// apart): Σ dy and Σ (x - mean)·dy into 16 lanes each (element i of a run to lane i mod 16), the lanes kept in
    /// registers across runs; a run's last length mod 16 values are added as a masked vector (dy 0, x finite), which
    /// leaves the other lanes' values unchanged. Same lanes as <see cref="ReduceRun{T}"/> run by run.
    /// </summary>
    public static void ReduceRuns(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int runs, int stride, int length, double mean,
                                  Span<double> sumDy, Span<double> dotP)
    {
        const int lanes = Lanes;
        int full = length - length % lanes;
        if (!Vector256.IsHardwareAccelerated || full == length)
        {
            for (int r = 0; r < runs; r++) ReduceRun(x.Slice(r * stride, length), dy.Slice(r * stride, length), mean, sumDy, dotP);
            return;
        }

        ref double sr = ref MemoryMarshal.GetReference(sumDy), dr = ref MemoryMarshal.GetReference(dotP);
        Vector256<double> m = Vector256.Create(mean);
        Vector256<double> s0 = Vector256.LoadUnsafe(ref sr), s1 = Vector256.LoadUnsafe(ref sr, 4), s2 = Vector256.LoadUnsafe(ref sr, 8), s3 = Vector256.LoadUnsafe(ref sr, 12);
        Vector256<double> d0 = Vector256.LoadUnsafe(ref dr), d1 = Vector256.LoadUnsafe(ref dr, 4), d2 = Vector256.LoadUnsafe(ref dr, 8), d3 = Vector256.LoadUnsafe(ref dr, 12);
        Vector256<float> finite = Vector256.Create((float)mean);
        Vector256<float> tailLow = Vector256.LessThan(Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7), Vector256.Create((float)(length - full)));
        Vector256<float> tailHigh = Vector256.LessThan(Vector256.Create(8f, 9, 10, 11, 12, 13, 14, 15), Vector256.Create((float)(length - full)));
        Span<float> xTail = stackalloc float[lanes];
        Span<float> gTail = stackalloc float[lanes];
        for (int r = 0; r < runs; r++)
        {
            ref float xr = ref Unsafe.Add(ref MemoryMarshal.GetReference(x), r * stride);
            ref float gr = ref Unsafe.Add(ref MemoryMarshal.GetReference(dy), r * stride);
            for (int i = 0; i < full; i += lanes)
                Accumulate(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)),
                           Vector256.LoadUnsafe(ref gr, (nuint)i), Vector256.LoadUnsafe(ref gr, (nuint)(i + 8)),
                           m, ref s0, ref s1, ref s2, ref s3, ref d0, ref d1, ref d2, ref d3);

            if (r * stride + full + lanes <= x.Length)
            {
                Accumulate(Vector256.ConditionalSelect(tailLow, Vector256.LoadUnsafe(ref xr, (nuint)full), finite),
                           Vector256.ConditionalSelect(tailHigh, Vector256.LoadUnsafe(ref xr, (nuint)(full + 8)), finite),
                           Vector256.LoadUnsafe(ref gr, (nuint)full) & tailLow, Vector256.LoadUnsafe(ref gr, (nuint)(full + 8)) & tailHigh,
                           m, ref s0, ref s1, ref s2, ref s3, ref d0, ref d1, ref d2, ref d3);
            }
            else
            {
                xTail.Fill((float)mean);
                gTail.Clear();
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref xr, full), length - full).CopyTo(xTail);
                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref gr, full), length - full).CopyTo(gTail);
                Accumulate(Vector256.Create<float>(xTail[..8]), Vector256.Create<float>(xTail[8..]), Vector256.Create<float>(gTail[..8]), Vector256.Create<float>(gTail[8..]),
                           m, ref s0, ref s1, ref s2, ref s3, ref d0, ref d1, ref d2, ref d3);
            }
        }

        s0.StoreUnsafe(ref sr); s1.StoreUnsafe(ref sr, 4); s2.StoreUnsafe(ref sr, 8); s3.StoreUnsafe(ref sr, 12);
        d0.StoreUnsafe(ref dr); d1.StoreUnsafe(ref dr, 4); d2.StoreUnsafe(ref dr, 8); d3.StoreUnsafe(ref dr, 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(Vector256<float> xLow, Vector256<float> xHigh, Vector256<float> gLow, Vector256<float> gHigh, Vector256<double> m,
                                   ref Vector256<double> s0, ref Vector256<double> s1, ref Vector256<double> s2, ref Vector256<double> s3,
                                   ref Vector256<double> d0, ref Vector256<double> d1, ref Vector256<double> d2, ref Vector256<double> d3)
    {
        (Vector256<double> xa, Vector256<double> xb) = Vector256.Widen(xLow);
        (Vector256<double> xc, Vector256<double> xd) = Vector256.Widen(xHigh);
        (Vector256<double> ga, Vector256<double> gb) = Vector256.Widen(gLow);
        (Vector256<double> gc, Vector256<double> gd) = Vector256.Widen(gHigh);
        s0 += ga; s1 += gb; s2 += gc; s3 += gd;
        d0 += (xa - m) * ga; d1 += (xb - m) * gb; d2 += (xc - m) * gc; d3 += (xd - m) * gd;
    }

    /// <summary>Adds Σ dy and Σ (x - mean)·dy of a contiguous run into 16 lanes each.</summary>
    public static void ReduceRun<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, double mean, Span<double> sumDy, Span<double> dotP)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated && x.Length >= Lanes)
        {
            ReadOnlySpan<float> xs = MemoryMarshal.Cast<T, float>(x), gs = MemoryMarshal.Cast<T, float>(dy);
            ref float xr = ref MemoryMarshal.GetReference(xs), gr = ref MemoryMarshal.GetReference(gs);
            ref double sr = ref MemoryMarshal.GetReference(sumDy), dr = ref MemoryMarshal.GetReference(dotP);
            Vector256<double> m = Vector256.Create(mean);
            Vector256<double> s0 = Vector256.LoadUnsafe(ref sr), s1 = Vector256.LoadUnsafe(ref sr, 4), s2 = Vector256.LoadUnsafe(ref sr, 8), s3 = Vector256.LoadUnsafe(ref sr, 12);
            Vector256<double> d0 = Vector256.LoadUnsafe(ref dr), d1 = Vector256.LoadUnsafe(ref dr, 4), d2 = Vector256.LoadUnsafe(ref dr, 8), d3 = Vector256.LoadUnsafe(ref dr, 12);
            for (; i <= x.Length - Lanes; i += Lanes)
            {
                (Vector256<double> xa, Vector256<double> xb) = Vector256.Widen(Vector256.LoadUnsafe(ref xr, (nuint)i));
                (Vector256<double> xc, Vector256<double> xd) = Vector256.Widen(Vector256.LoadUnsafe(ref xr, (nuint)(i + 8)));
                (Vector256<double> ga, Vector256<double> gb) = Vector256.Widen(Vector256.LoadUnsafe(ref gr, (nuint)i));
                (Vector256<double> gc, Vector256<double> gd) = Vector256.Widen(Vector256.LoadUnsafe(ref gr, (nuint)(i + 8)));
                s0 += ga; s1 += gb; s2 += gc; s3 += gd;
                d0 += (xa - m) * ga; d1 += (xb - m) * gb; d2 += (xc - m) * gc; d3 += (xd - m) * gd;
            }

            s0.StoreUnsafe(ref sr); s1.StoreUnsafe(ref sr, 4); s2.StoreUnsafe(ref sr, 8); s3.StoreUnsafe(ref sr, 12);
            d0.StoreUnsafe(ref dr); d1.StoreUnsafe(ref dr, 4); d2.StoreUnsafe(ref dr, 8); d3.StoreUnsafe(ref dr, 12);
        }
        else if (typeof(T) == typeof(double) && Vector256.IsHardwareAccelerated && x.Length >= Lanes)
        {
            ReadOnlySpan<double> xs = MemoryMarshal.Cast<T, double>(x), gs = MemoryMarshal.Cast<T, double>(dy);
            ref double xr = ref MemoryMarshal.GetReference(xs), gr = ref MemoryMarshal.GetReference(gs);
            ref double sr = ref MemoryMarshal.GetReference(sumDy), dr = ref MemoryMarshal.GetReference(dotP);
            Vector256<double> m = Vector256.Create(mean);
            for (; i <= x.Length - Lanes; i += Lanes)
            {
                for (int part = 0; part < Lanes; part += 4)
                {
                    Vector256<double> g = Vector256.LoadUnsafe(ref gr, (nuint)(i + part));
                    (Vector256.LoadUnsafe(ref sr, (nuint)part) + g).StoreUnsafe(ref sr, (nuint)part);
                    (Vector256.LoadUnsafe(ref dr, (nuint)part) + (Vector256.LoadUnsafe(ref xr, (nuint)(i + part)) - m) * g).StoreUnsafe(ref dr, (nuint)part);
                }
            }
        }

        for (; i < x.Length; i++)
        {
            double g = double.CreateTruncating(dy[i]);
            sumDy[i % Lanes] += g;
            dotP[i % Lanes] += (double.CreateTruncating(x[i]) - mean) * g;
        }
    }

    /// <summary>Rows layout: adds Σ dy into sumDy[c] and Σ (x - mean[c])·dy into dotP[c], row after row (per channel, the
    /// rows in order: the vector path keeps 8 channels' sums in registers and gives the scalar loop's bits).</summary>
    public static void ReduceRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int rows, ReadOnlySpan<double> mean, Span<double> sumDy, Span<double> dotP)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Tiles of rows that stay in L1 while the channel groups sweep them; per channel the rows still add in order.
        int channels = mean.Length;
        int tile = Math.Max(4, 2048 / Math.Max(1, channels));
        for (int first = 0; first < rows; first += tile)
        {
            int count = Math.Min(tile, rows - first);
            ReduceRowTile(x.Slice(first * channels, count * channels), dy.Slice(first * channels, count * channels), count, mean, sumDy, dotP);
        }
    }

    private static void ReduceRowTile<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int rows, ReadOnlySpan<double> mean, Span<double> sumDy, Span<double> dotP)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = mean.Length;
        int c = 0;
        if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
        {
            ref float xr = ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, float>(x));
            ref float gr = ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, float>(dy));
            ref double mr = ref MemoryMarshal.GetReference(mean);
            ref double sr = ref MemoryMarshal.GetReference(sumDy), dr = ref MemoryMarshal.GetReference(dotP);
            for (; c <= channels - 8; c += 8)
            {
                Vector256<double> ma = Vector256.LoadUnsafe(ref mr, (nuint)c), mb = Vector256.LoadUnsafe(ref mr, (nuint)(c + 4));
                Vector256<double> sa = Vector256.LoadUnsafe(ref sr, (nuint)c), sb = Vector256.LoadUnsafe(ref sr, (nuint)(c + 4));
                Vector256<double> da = Vector256.LoadUnsafe(ref dr, (nuint)c), db = Vector256.LoadUnsafe(ref dr, (nuint)(c + 4));
                for (int r = 0; r < rows; r++)
                {
                    nuint at = (nuint)(r * channels + c);
                    (Vector256<double> xa, Vector256<double> xb) = Vector256.Widen(Vector256.LoadUnsafe(ref xr, at));
                    (Vector256<double> ga, Vector256<double> gb) = Vector256.Widen(Vector256.LoadUnsafe(ref gr, at));
                    sa += ga; sb += gb;
                    da += (xa - ma) * ga; db += (xb - mb) * gb;
                }

                sa.StoreUnsafe(ref sr, (nuint)c); sb.StoreUnsafe(ref sr, (nuint)(c + 4));
                da.StoreUnsafe(ref dr, (nuint)c); db.StoreUnsafe(ref dr, (nuint)(c + 4));
            }
        }
        else if (typeof(T) == typeof(double) && Vector256.IsHardwareAccelerated)
        {
            ref double xr = ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, double>(x));
            ref double gr = ref MemoryMarshal.GetReference(MemoryMarshal.Cast<T, double>(dy));
            ref double mr = ref MemoryMarshal.GetReference(mean);
            ref double sr = ref MemoryMarshal.GetReference(sumDy), dr = ref MemoryMarshal.GetReference(dotP);
            for (; c <= channels - 4; c += 4)
            {
                Vector256<double> m = Vector256.LoadUnsafe(ref mr, (nuint)c);
                Vector256<double> sa = Vector256.LoadUnsafe(ref sr, (nuint)c), da = Vector256.LoadUnsafe(ref dr, (nuint)c);
                for (int r = 0; r < rows; r++)
                {
                    nuint at = (nuint)(r * channels + c);
                    Vector256<double> g = Vector256.LoadUnsafe(ref gr, at);
                    sa += g;
                    da += (Vector256.LoadUnsafe(ref xr, at) - m) * g;
                }

                sa.StoreUnsafe(ref sr, (nuint)c);
                da.StoreUnsafe(ref dr, (nuint)c);
            }
        }

        for (int r = 0; r < rows; r++)
        {
            int offset = r * channels;
            for (int ch = c; ch < channels; ch++)
            {
                double g = double.CreateTruncating(dy[offset + ch]);
                sumDy[ch] += g;
                dotP[ch] += (double.CreateTruncating(x[offset + ch]) - mean[ch]) * g;
            }
        }
    }

    /// <summary>dx over a contiguous run of one channel: (dy - gradMean - (x - mean)·k)·scale, or dy·scale with running statistics.</summary>
    public static void InputGradientRun<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, T mean, T gradMean, T k, T scale, bool batchStatistics)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        int width = Vector256<T>.Count;
        if (Vector256.IsHardwareAccelerated)
        {
            ref T xr = ref MemoryMarshal.GetReference(x), gr = ref MemoryMarshal.GetReference(dy), outr = ref MemoryMarshal.GetReference(dx);
            Vector256<T> m = Vector256.Create(mean), gm = Vector256.Create(gradMean), kv = Vector256.Create(k), s = Vector256.Create(scale);
            for (; i <= x.Length - width; i += width)
            {
                Vector256<T> g = Vector256.LoadUnsafe(ref gr, (nuint)i);
                Vector256<T> result = batchStatistics ? (g - gm - (Vector256.LoadUnsafe(ref xr, (nuint)i) - m) * kv) * s : g * s;
                result.StoreUnsafe(ref outr, (nuint)i);
            }
        }

        for (; i < x.Length; i++)
            dx[i] = batchStatistics ? (dy[i] - gradMean - (x[i] - mean) * k) * scale : dy[i] * scale;
    }

    /// <summary>Rows layout: dx[r, c] with per-channel mean, gradMean, k and scale.</summary>
    public static void InputGradientRows<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int rows, ReadOnlySpan<T> mean,
                                            ReadOnlySpan<T> gradMean, ReadOnlySpan<T> k, ReadOnlySpan<T> scale, bool batchStatistics)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = mean.Length;
        int width = Vector256<T>.Count;
        ref T mr = ref MemoryMarshal.GetReference(mean), gmr = ref MemoryMarshal.GetReference(gradMean);
        ref T kr = ref MemoryMarshal.GetReference(k), sr = ref MemoryMarshal.GetReference(scale);
        for (int r = 0; r < rows; r++)
        {
            int offset = r * channels;
            int c = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                ref T xr = ref MemoryMarshal.GetReference(x.Slice(offset, channels)), gr = ref MemoryMarshal.GetReference(dy.Slice(offset, channels));
                ref T outr = ref MemoryMarshal.GetReference(dx.Slice(offset, channels));
                for (; c <= channels - width; c += width)
                {
                    Vector256<T> g = Vector256.LoadUnsafe(ref gr, (nuint)c), s = Vector256.LoadUnsafe(ref sr, (nuint)c);
                    Vector256<T> result = batchStatistics
                        ? (g - Vector256.LoadUnsafe(ref gmr, (nuint)c) - (Vector256.LoadUnsafe(ref xr, (nuint)c) - Vector256.LoadUnsafe(ref mr, (nuint)c)) * Vector256.LoadUnsafe(ref kr, (nuint)c)) * s
                        : g * s;
                    result.StoreUnsafe(ref outr, (nuint)c);
                }
            }

            for (; c < channels; c++)
            {
                T g = dy[offset + c];
                dx[offset + c] = batchStatistics ? (g - gradMean[c] - (x[offset + c] - mean[c]) * k[c]) * scale[c] : g * scale[c];
            }
        }
    }
}
