using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

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
/// Each element is one fused operation, so every width gives the same bits. A run (or a row) goes in the widest
/// register it fills, one register per step (the loop is bound by memory; unrolling it gained nothing), and its last
/// values in one more register that overlaps values already written (rewriting them with the same values), or, in
/// place, one at a time. Vector256 at most: on the AMD EPYC (Zen 5) these kernels were measured on, Vector512 maps ran
/// up to 1.5x slower than Vector256 ones on 14x14 planes and channels-last rows, and never faster, while the
/// reductions, which only read, gain from Vector512 (the ILanes bodies take any width; the dispatch is the choice).
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ApplyRun<T>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Debug.Assert(y.Length == x.Length && Spans.SameOrApart(x, y));
        // The widest register that the run fills, Vector256 at most (see the remarks).
        if (Lanes256<T>.IsHardwareAccelerated && x.Length >= Lanes256<T>.Count) ApplyRun<T, Lanes256<T>>(x, y, alpha, beta);
        else if (Lanes128<T>.IsHardwareAccelerated && x.Length >= Lanes128<T>.Count) ApplyRun<T, Lanes128<T>>(x, y, alpha, beta);
        else ApplyRun<T, ScalarLane<T>>(x, y, alpha, beta);
    }

    /// <summary>Rows layout ((N, C) or channels-last): y[r, c] = fma(x[r, c], alpha[c], beta[c]) for <paramref name="rows"/>
    /// rows of C = alpha.Length values. y is x, or memory apart from it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ApplyRows<T>(ReadOnlySpan<T> x, Span<T> y, int rows, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = alpha.Length;
        Debug.Assert(beta.Length == channels && x.Length == (long)rows * channels && y.Length == x.Length && Spans.SameOrApart(x, y));
        // The widest register that a row fills, Vector256 at most (see the remarks).
        if (Lanes256<T>.IsHardwareAccelerated && channels >= Lanes256<T>.Count) ApplyRows<T, Lanes256<T>>(x, y, rows, alpha, beta);
        else if (Lanes128<T>.IsHardwareAccelerated && channels >= Lanes128<T>.Count) ApplyRows<T, Lanes128<T>>(x, y, rows, alpha, beta);
        else ApplyRows<T, ScalarLane<T>>(x, y, rows, alpha, beta);
    }

    /// <summary>The run in registers of <typeparamref name="TLanes"/> (at least one register long), then the last values.
    /// Internal for the tests, which also run the widths the dispatch skips.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ApplyRun<T, TLanes>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
    {
        int i = ApplyRunBlocks<T, TLanes>(x, y, alpha, beta, 0);
        // The last values: the last whole register again, overlapping values already written (which it rewrites with the
        // same values); in place that would read outputs as inputs, so there one value at a time.
        if (i < x.Length && !Spans.SameStart(x, y)) ApplyRunBlocks<T, TLanes>(x, y, alpha, beta, x.Length - TLanes.Count);
        else ApplyRunBlocks<T, ScalarLane<T>>(x, y, alpha, beta, i);
    }

    /// <summary>The run from x[i] on, a block at a time while a whole block fits; returns where the blocks end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ApplyRunBlocks<T, TBlock>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta, int i)
        where T : unmanaged, IFloatingPointIeee754<T> where TBlock : struct, ILanes<TBlock, T>
    {
        TBlock a = TBlock.Create(alpha), b = TBlock.Create(beta);
        // y = fma(x, alpha, beta)
        for (; i <= x.Length - TBlock.Count; i += TBlock.Count)
            TBlock.FusedMultiplyAdd(TBlock.Load(x, i), a, b).Store(y, i);
        return i;
    }

    /// <summary>Every row in registers of <typeparamref name="TLanes"/> (a row is at least one register long), as
    /// <see cref="ApplyRun{T, TLanes}"/> does a run.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ApplyRows<T, TLanes>(ReadOnlySpan<T> x, Span<T> y, int rows, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta)
        where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
    {
        int channels = alpha.Length;
        bool inPlace = Spans.SameStart(x, y);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = x.Slice(r * channels, channels);
            Span<T> output = y.Slice(r * channels, channels);
            int c = ApplyRowBlocks<T, TLanes>(row, output, alpha, beta, 0);
            if (c < channels && !inPlace) ApplyRowBlocks<T, TLanes>(row, output, alpha, beta, channels - TLanes.Count);
            else ApplyRowBlocks<T, ScalarLane<T>>(row, output, alpha, beta, c);
        }
    }

    /// <summary>One row from channel c on, a block of channels at a time while a whole block fits; returns where the blocks end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ApplyRowBlocks<T, TBlock>(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta, int c)
        where T : unmanaged, IFloatingPointIeee754<T> where TBlock : struct, ILanes<TBlock, T>
    {
        // y[c] = fma(x[c], alpha[c], beta[c])
        for (; c <= x.Length - TBlock.Count; c += TBlock.Count)
            TBlock.FusedMultiplyAdd(TBlock.Load(x, c), TBlock.Load(alpha, c), TBlock.Load(beta, c)).Store(y, c);
        return c;
    }
}
