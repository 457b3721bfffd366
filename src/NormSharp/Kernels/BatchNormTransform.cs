using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>
/// The normalization itself, folded into one fused multiply-add per element (PyTorch's
/// <c>batch_norm_cpu_collect_linear_and_constant_terms</c>).
/// </summary>
/// <remarks>
/// Per channel, in T as libtorch's CPU kernel computes it:
/// <code>
/// alpha = invStd · weight            (weight = 1 without affine)
/// beta  = fma(-mean, alpha, bias)    (bias = 0 without affine)
/// y     = fma(x, alpha, beta)        = (x - mean) · invStd · weight + bias
/// </code>
/// In training, mean and invStd are the batch's (<see cref="ShiftedMoments"/>); in evaluation,
/// running_mean and 1 / sqrt(running_var + eps). Passes over memory: one read, one write.
/// Vector and scalar paths give the same bits (both fused).
/// </remarks>
internal static class BatchNormTransform
{
    /// <summary>Folds a channel's statistics and affine parameters into (alpha, beta).</summary>
    public static (T Alpha, T Beta) ScaleAndShift<T>(T mean, T invStd, T weight, T bias)
        where T : IFloatingPointIeee754<T>
    {
        T alpha = invStd * weight;
        return (alpha, T.FusedMultiplyAdd(-mean, alpha, bias));
    }

    /// <summary>y = fma(x, alpha, beta) over a contiguous run of one channel (a plane of the (N, C, S) layout).</summary>
    public static void ApplyRun<T>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<T>.Count)
        {
            ref T source = ref MemoryMarshal.GetReference(x);
            ref T target = ref MemoryMarshal.GetReference(y);
            Vector256<T> a = Vector256.Create(alpha), b = Vector256.Create(beta);
            int width = Vector256<T>.Count;
            for (; i <= x.Length - 4 * width; i += 4 * width)
            {
                VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)i), a, b).StoreUnsafe(ref target, (nuint)i);
                VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)(i + width)), a, b).StoreUnsafe(ref target, (nuint)(i + width));
                VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)(i + 2 * width)), a, b).StoreUnsafe(ref target, (nuint)(i + 2 * width));
                VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)(i + 3 * width)), a, b).StoreUnsafe(ref target, (nuint)(i + 3 * width));
            }

            for (; i <= x.Length - width; i += width)
                VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)i), a, b).StoreUnsafe(ref target, (nuint)i);
            if (i < x.Length)
            {
                // A map may redo the last full vector (overlapping the tail): rewriting a lane gives the same value.
                // Not in place, though: the overlap would read outputs.
                int last = x.Length - width;
                if (!Unsafe.AreSame(ref source, ref target))
                {
                    VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)last), a, b).StoreUnsafe(ref target, (nuint)last);
                    return;
                }
            }
        }

        for (; i < x.Length; i++) y[i] = T.FusedMultiplyAdd(x[i], alpha, beta);
    }

    /// <summary>Rows layout ((N, C) or channels-last): y[r, c] = fma(x[r, c], alpha[c], beta[c]) for <paramref name="rows"/> rows.</summary>
    public static void ApplyRows<T>(ReadOnlySpan<T> x, Span<T> y, int rows, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = alpha.Length;
        int width = Vector256<T>.Count;
        ref T a = ref MemoryMarshal.GetReference(alpha), b = ref MemoryMarshal.GetReference(beta);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = x.Slice(r * channels, channels);
            Span<T> output = y.Slice(r * channels, channels);
            int c = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                ref T source = ref MemoryMarshal.GetReference(row), target = ref MemoryMarshal.GetReference(output);
                for (; c <= channels - width; c += width)
                    VectorMath.FusedMultiplyAdd(Vector256.LoadUnsafe(ref source, (nuint)c), Vector256.LoadUnsafe(ref a, (nuint)c),
                                                Vector256.LoadUnsafe(ref b, (nuint)c)).StoreUnsafe(ref target, (nuint)c);
            }

            for (; c < channels; c++) output[c] = T.FusedMultiplyAdd(row[c], alpha[c], beta[c]);
        }
    }
}
