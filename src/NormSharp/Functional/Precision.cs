namespace NormSharp;

/// <summary>The element types NormSharp computes in.</summary>
internal static class Precision
{
    /// <summary>Throws unless T is <see cref="float"/> or <see cref="double"/>: the types of layers' parameters and running
    /// statistics, and of the per-channel tensors of the functional ops.</summary>
    public static void EnsureSupported<T>()
    {
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) return;
        if (typeof(T) == typeof(Half))
            throw new NotSupportedException(
                "NormSharp keeps parameters and running statistics in float or double, not Half (PyTorch's module.half()). For " +
                "float16 input use a float32 layer or float32 per-channel tensors with a Tensor<Half> input: PyTorch's mixed " +
                "precision (float16 or bfloat16 input, float32 weight, bias and running statistics, float16 output), e.g. " +
                "new BatchNorm2d(64).Forward(xHalf) or Functional.BatchNorm(xHalf, runningMean, runningVar, weight, bias).");
        throw new NotSupportedException($"NormSharp computes in float and double, not {typeof(T).Name}.");
    }

    /// <summary>Throws unless the input type <typeparamref name="TInput"/> and the per-channel type <typeparamref name="T"/>
    /// make a supported pair: the same type, float or double; or <see cref="Half"/> or <see cref="BFloat16"/> input with float
    /// per-channel tensors (mixed precision).</summary>
    public static void EnsureSupported<TInput, T>()
    {
        EnsureSupported<T>();
        if (typeof(TInput) == typeof(T) || (IsMixed<TInput>() && typeof(T) == typeof(float))) return;
        if (IsMixed<TInput>())
            throw new NotSupportedException("mixed dtype (CPU): expect parameter to have scalar type of Float");
        throw new NotSupportedException($"NormSharp normalizes {typeof(T).Name} input with {typeof(T).Name} parameters, not {typeof(TInput).Name} input.");
    }

    /// <summary>Whether <typeparamref name="TInput"/> is a 16-bit input type of mixed precision (Half or BFloat16).</summary>
    public static bool IsMixed<TInput>() => typeof(TInput) == typeof(Half) || typeof(TInput) == typeof(BFloat16);
}
