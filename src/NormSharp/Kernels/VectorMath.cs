using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>The few generic vector helpers the kernels need beyond Vector256's operators.</summary>
internal static class VectorMath
{
    /// <summary>a·b + c with one rounding, for float and double lanes (the scalar twin is T.FusedMultiplyAdd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> FusedMultiplyAdd<T>(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
    }
}
