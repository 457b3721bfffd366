using System.Diagnostics;
using System.Numerics;

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
/// Each element is one fused operation, so every width gives the same bits: the widest registers run four at a time,
/// then one at a time, then narrower registers and scalars take the values left (no value is read or written twice, so
/// y may be x itself).
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

    /// <summary>y = fma(x, alpha, beta) over a contiguous run of one channel (a plane of the (N, C, S) layout). y is x, or
    /// memory apart from it.</summary>
    public static void ApplyRun<T>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(y.Length == x.Length && LaneChecks.SameOrApart(x, y));
        int i = 0;
        if (Lanes512<T>.IsHardwareAccelerated) i = ApplyRun<T, Lanes512<T>>(x, y, alpha, beta, i);
        if (Lanes256<T>.IsHardwareAccelerated) i = ApplyRun<T, Lanes256<T>>(x, y, alpha, beta, i);
        if (Lanes128<T>.IsHardwareAccelerated) i = ApplyRun<T, Lanes128<T>>(x, y, alpha, beta, i);
        ApplyRun<T, ScalarLane<T>>(x, y, alpha, beta, i);
    }

    /// <summary>Rows layout ((N, C) or channels-last): y[r, c] = fma(x[r, c], alpha[c], beta[c]) for <paramref name="rows"/>
    /// rows of C = alpha.Length values. y is x, or memory apart from it.</summary>
    public static void ApplyRows<T>(ReadOnlySpan<T> x, Span<T> y, int rows, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = alpha.Length;
        Debug.Assert(beta.Length == channels && x.Length == (long)rows * channels && y.Length == x.Length && LaneChecks.SameOrApart(x, y));
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = x.Slice(r * channels, channels);
            Span<T> output = y.Slice(r * channels, channels);
            int c = 0;
            if (Lanes512<T>.IsHardwareAccelerated) c = ApplyRow<T, Lanes512<T>>(row, output, alpha, beta, c);
            if (Lanes256<T>.IsHardwareAccelerated) c = ApplyRow<T, Lanes256<T>>(row, output, alpha, beta, c);
            if (Lanes128<T>.IsHardwareAccelerated) c = ApplyRow<T, Lanes128<T>>(row, output, alpha, beta, c);
            ApplyRow<T, ScalarLane<T>>(row, output, alpha, beta, c);
        }
    }

    private static int ApplyRun<T, TLanes>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta, int i)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T> =>
        ApplyRunBlocks<T, TLanes>(x, y, alpha, beta, ApplyRunBlocks<T, Quad<TLanes, T>>(x, y, alpha, beta, i));

    /// <summary>The run from x[i] on, a block at a time while a whole block fits; returns where the blocks end.</summary>
    private static int ApplyRunBlocks<T, TBlock>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta, int i)
        where T : unmanaged, IFloatingPointIeee754<T> where TBlock : struct, ILanes<TBlock, T>
    {
        TBlock a = TBlock.Create(alpha), b = TBlock.Create(beta);
        // y = fma(x, alpha, beta)
        for (; i <= x.Length - TBlock.Count; i += TBlock.Count)
            TBlock.FusedMultiplyAdd(TBlock.Load(x, i), a, b).Store(y, i);
        return i;
    }

    private static int ApplyRow<T, TLanes>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta, int c)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T> =>
        ApplyRowBlocks<T, TLanes>(x, y, alpha, beta, ApplyRowBlocks<T, Quad<TLanes, T>>(x, y, alpha, beta, c));

    /// <summary>One row from channel c on, a block of channels at a time while a whole block fits; returns where the blocks end.</summary>
    private static int ApplyRowBlocks<T, TBlock>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta, int c)
        where T : unmanaged, IFloatingPointIeee754<T> where TBlock : struct, ILanes<TBlock, T>
    {
        // y[c] = fma(x[c], alpha[c], beta[c])
        for (; c <= x.Length - TBlock.Count; c += TBlock.Count)
            TBlock.FusedMultiplyAdd(TBlock.Load(x, c), TBlock.Load(alpha, c), TBlock.Load(beta, c)).Store(y, c);
        return c;
    }
}
