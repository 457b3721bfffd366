using System.Numerics;

namespace NormSharp.Kernels;

/// <summary>
/// Per-channel batch statistics. Notation (docs/notation.md): x is (N, C, S) row-major, S = L, H·W
/// or D·H·W (1 for an (N, C) input); M = N·S values per channel.
/// </summary>
/// <remarks>
/// For channel c, with sums in <see cref="double"/> whatever T is (as libtorch's CPU kernels do for
/// float), in the order n-major then s, on one thread:
/// <code>
/// mean   = Σ x / M
/// varSum = Σ (x - mean)²          (two passes on purpose: E[x²] - E[x]² loses the variance when |mean| ≫ std)
/// var_b  = varSum / M             (biased: normalizes the output)
/// var_u  = varSum / (M - 1)       (unbiased: feeds running_var)
/// invStd = 1 / sqrt(var_b + eps), and 0 when var_b == 0 and eps == 0 (ATen's InvStd guard)
/// </code>
/// Passes over memory: two reads of the channel.
/// </remarks>
internal static class BatchNormStatistics
{
    /// <summary>Mean and sum of squared deviations of one channel.</summary>
    /// <param name="x">The whole input, (N, C, S) row-major.</param>
    /// <param name="batch">N.</param>
    /// <param name="channels">C.</param>
    /// <param name="spatial">S.</param>
    /// <param name="channel">c, the channel to reduce.</param>
    /// <param name="mean">Σ x / M.</param>
    /// <param name="varSum">Σ (x - mean)².</param>
    public static void CollectChannel<T>(ReadOnlySpan<T> x, int batch, int channels, int spatial, int channel,
                                         out double mean, out double varSum)
        where T : IFloatingPointIeee754<T>
    {
        double sum = 0.0;
        for (int n = 0; n < batch; n++)
        {
            ReadOnlySpan<T> plane = x.Slice((n * channels + channel) * spatial, spatial);
            for (int s = 0; s < plane.Length; s++) sum += double.CreateTruncating(plane[s]);
        }

        long count = (long)batch * spatial;
        mean = sum / count;

        double squares = 0.0;
        for (int n = 0; n < batch; n++)
        {
            ReadOnlySpan<T> plane = x.Slice((n * channels + channel) * spatial, spatial);
            for (int s = 0; s < plane.Length; s++)
            {
                double d = double.CreateTruncating(plane[s]) - mean;
                squares += d * d;
            }
        }

        varSum = squares;
    }

    /// <summary>invStd = 1 / sqrt(var + eps), with ATen's guard: 0 when var == 0 and eps == 0.</summary>
    public static double InvStd(double variance, double eps) =>
        variance == 0.0 && eps == 0.0 ? 0.0 : 1.0 / Math.Sqrt(variance + eps);
}
