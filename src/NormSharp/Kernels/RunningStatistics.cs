using System.Numerics;

namespace NormSharp.Kernels;

/// <summary>The running-statistics update of a training forward.</summary>
/// <remarks>
/// <code>
/// running_mean = (1 - factor) · running_mean + factor · mean
/// running_var  = (1 - factor) · running_var  + factor · var_u      (var_u = varSum / (M - 1), unbiased)
/// </code>
/// factor is the momentum (exponential moving average) or 1 / num_batches_tracked (cumulative
/// average, momentum null); blended in double, then stored as T.
/// </remarks>
internal static class RunningStatistics
{
    /// <summary>Blends one stored statistic towards the batch's value.</summary>
    public static T Blend<T>(T running, double batchValue, double factor)
        where T : IFloatingPointIeee754<T> =>
        T.CreateTruncating((1.0 - factor) * double.CreateTruncating(running) + factor * batchValue);
}
