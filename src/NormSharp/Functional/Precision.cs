namespace NormSharp;

/// <summary>The element types NormSharp computes in.</summary>
internal static class Precision
{
    /// <summary>Throws unless T is <see cref="float"/> or <see cref="double"/>.</summary>
    public static void EnsureSupported<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"NormSharp computes in float and double, not {typeof(T).Name}.");
    }
}
