namespace NormSharp;

/// <summary>
/// Per-thread scratch arrays that grow to the largest size asked for and are then reused, so that steady-state
/// calls allocate nothing beyond their outputs.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
internal static class Scratch<T>
{
    [ThreadStatic]
    private static T[]? first;

    [ThreadStatic]
    private static T[]? second;

    [ThreadStatic]
    private static T[]? third;

    /// <summary>The calling thread's first array, at least <paramref name="length"/> long, cleared over that length.</summary>
    public static T[] First(int length) => Take(ref first, length);

    /// <summary>The calling thread's second array (distinct from the first), at least <paramref name="length"/> long, cleared.</summary>
    public static T[] Second(int length) => Take(ref second, length);

    /// <summary>The calling thread's third array (distinct from the other two), at least <paramref name="length"/> long, cleared.</summary>
    public static T[] Third(int length) => Take(ref third, length);

    private static T[] Take(ref T[]? cache, int length)
    {
        if (cache is null || cache.Length < length) cache = new T[Math.Max(length, 64)];
        Array.Clear(cache, 0, length);
        return cache;
    }
}
