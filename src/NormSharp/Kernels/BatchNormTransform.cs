using System.Numerics;

namespace NormSharp.Kernels;

/// <summary>
/// The normalization itself, folded into one multiply-add per element (PyTorch's
/// <c>batch_norm_cpu_collect_linear_and_constant_terms</c>).
/// </summary>
/// <remarks>
/// Per channel, in T as libtorch's CPU kernel computes it:
/// <code>
/// alpha = invStd · weight            (weight = 1 without affine)
/// beta  = fma(-mean, alpha, bias)    (bias = 0 without affine)
/// y     = fma(x, alpha, beta)        = (x - mean) · invStd · weight + bias
/// </code>
/// In training, mean and invStd are the batch's (<see cref="BatchNormStatistics"/>); in evaluation,
/// running_mean and 1 / sqrt(running_var + eps). Passes over memory: one read, one write.
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

    /// <summary>y = fma(x, alpha, beta) over one (n, c) plane.</summary>
    public static void ApplyPlane<T>(ReadOnlySpan<T> x, Span<T> y, T alpha, T beta)
        where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++) y[i] = T.FusedMultiplyAdd(x[i], alpha, beta);
    }
}
