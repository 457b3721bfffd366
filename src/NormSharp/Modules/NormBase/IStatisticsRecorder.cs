namespace NormSharp;

/// <summary>
/// Receives the statistics of each forward of a layer that normalizes with input statistics, once that forward has
/// succeeded: the hook a recalibration session installs (<see cref="NormBase{T}.StatisticsRecorder"/>).
/// </summary>
internal interface IStatisticsRecorder
{
    /// <summary>One successful forward's statistics, in double, exactly as the layer computed them.</summary>
    /// <param name="mean">Per group, its mean. The groups are the channels (BatchNorm: the whole batch's, every process's
    /// for SyncBatchNorm) or the (sample, channel) planes, sample-major (InstanceNorm). Empty when the input had no values.</param>
    /// <param name="m2">Per group, Σ(x - mean)² over its values.</param>
    /// <param name="count">The number of values in each group; 0 when the input had no values.</param>
    void Record(ReadOnlySpan<double> mean, ReadOnlySpan<double> m2, long count);
}
