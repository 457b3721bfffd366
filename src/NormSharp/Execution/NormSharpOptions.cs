namespace NormSharp;

/// <summary>
/// Process-wide settings of NormSharp's kernels.
/// </summary>
/// <remarks>
/// Work is split over channels (and, for the transform, over planes) with edges set by the shape
/// alone, and every per-channel sum runs on one thread in a fixed order, so results are
/// bit-identical for any degree of parallelism.
/// </remarks>
public static class NormSharpOptions
{
    private static int maxDegreeOfParallelism = Environment.ProcessorCount;

    /// <summary>
    /// The most threads one NormSharp call uses (default: <see cref="Environment.ProcessorCount"/>).
    /// Set it to 1 to run every kernel on the calling thread.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MaxDegreeOfParallelism
    {
        get => Volatile.Read(ref maxDegreeOfParallelism);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref maxDegreeOfParallelism, value);
        }
    }
}
