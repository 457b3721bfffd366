using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// The channels-last memory layout (PyTorch's <c>torch.channels_last</c> / <c>channels_last_3d</c>): a 4-D (N, C, H, W) or
/// 5-D (N, C, D, H, W) tensor whose memory is ordered (N, H, W, C) / (N, D, H, W, C), so the C values of one pixel are
/// adjacent. NormSharp's BatchNorm reads it without a copy and writes its output in the same layout.
/// </summary>
/// <example>
/// <code>
/// Tensor&lt;float&gt; x = ChannelsLast.From(Tensor.Create(values, [8, 64, 56, 56]));   // like x.to(memory_format=torch.channels_last)
/// Tensor&lt;float&gt; y = new BatchNorm2d(64).Forward(x);                              // ChannelsLast.Is(y) == true
/// </code>
/// </example>
public static class ChannelsLast
{
    /// <summary>The strides of a channels-last tensor of these lengths (0 for a dimension of length 1, the form
    /// System.Numerics.Tensors uses).</summary>
    /// <param name="lengths">(N, C, H, W) or (N, C, D, H, W).</param>
    /// <exception cref="ArgumentException">The rank is not 4 or 5.</exception>
    public static nint[] Strides(ReadOnlySpan<nint> lengths)
    {
        EnsureRank(lengths.Length);
        return NormLayout.ChannelsLastStrides(lengths);
    }

    /// <summary>A new channels-last tensor of these lengths, every element 0.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="lengths">(N, C, H, W) or (N, C, D, H, W).</param>
    /// <exception cref="ArgumentException">The rank is not 4 or 5.</exception>
    public static Tensor<T> Create<T>(ReadOnlySpan<nint> lengths) => Tensor.CreateFromShape<T>(lengths, Strides(lengths));

    /// <summary>A channels-last copy of <paramref name="tensor"/> (any layout in, the same values out).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="tensor">A 4-D or 5-D tensor.</param>
    /// <exception cref="ArgumentException">The rank is not 4 or 5.</exception>
    public static Tensor<T> From<T>(Tensor<T> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        Tensor<T> result = Create<T>(tensor.Lengths);
        tensor.CopyTo(result);
        return result;
    }

    /// <summary>Whether <paramref name="tensor"/> lies in memory channels-last (and is 4-D or 5-D).</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="tensor">Any tensor.</param>
    public static bool Is<T>(Tensor<T> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return NormLayout.HasChannelsLastStrides(tensor);
    }

    private static void EnsureRank(int rank)
    {
        if (rank is not (4 or 5))
            throw new ArgumentException($"channels-last is defined for 4-D (N, C, H, W) and 5-D (N, C, D, H, W) tensors, not {rank}-D ones.");
    }
}
