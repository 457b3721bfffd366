namespace NormSharp;

/// <summary>
/// Per-thread scratch arrays, one per use, that grow to the largest size asked for and are then reused, so that
/// steady-state calls allocate nothing beyond their outputs. Each use has its own array: no two uses in one call can
/// hand out the same memory, whatever T is.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
internal static class ScratchBuffers<T>
{
    [ThreadStatic]
    private static T[]? moments, scaleAndShift, backwardSums, backwardCoefficients, planeVariances;

    /// <summary>Training forward: the partial moments of the work items and the per-channel totals.</summary>
    public static T[] Moments(int length) => Take(ref moments, length);

    /// <summary>Forward: the folded alpha (C values) then beta (C values) of y = fma(x, alpha, beta).</summary>
    public static T[] ScaleAndShift(int length) => Take(ref scaleAndShift, length);

    /// <summary>Backward: the partial sums Σ dy and Σ (x - mean)·dy of the work items, then the per-channel means.</summary>
    public static T[] BackwardSums(int length) => Take(ref backwardSums, length);

    /// <summary>Backward: the per-channel mean, Σdy/M, k and invStd·w of the dx pass, in T.</summary>
    public static T[] BackwardCoefficients(int length) => Take(ref backwardCoefficients, length);

    /// <summary>InstanceNorm with running statistics to update: each plane's unbiased variance.</summary>
    public static T[] PlaneVariances(int length) => Take(ref planeVariances, length);

    /// <summary>The array behind <paramref name="cache"/>, at least <paramref name="length"/> long, cleared over that length.</summary>
    private static T[] Take(ref T[]? cache, int length)
    {
        if (cache is null || cache.Length < length) cache = new T[Math.Max(length, 64)];
        Array.Clear(cache, 0, length);
        return cache;
    }
}
