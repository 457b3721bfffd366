using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// How an (N, C, *) tensor lies in memory, as the kernels see it: (N, C, S) planes (row-major, S &gt; 1), or
/// rows of C values (an (N, C) input, or channels-last (N, H, W, C) / (N, D, H, W, C) storage).
/// </summary>
/// <param name="Batch">N.</param>
/// <param name="Channels">C.</param>
/// <param name="Spatial">S, the product of the spatial sizes.</param>
/// <param name="IsRows">True when memory is N·S rows of C values.</param>
/// <param name="IsChannelsLast">True when the tensor is channels-last (so is the output).</param>
/// <remarks>Three concerns in three files: how memory lies (this file), how work is cut into items
/// (NormLayout.WorkItems.cs), and the fixed-order combine of the items' partial results (NormLayout.Combine.cs).</remarks>
internal readonly partial record struct NormLayout(int Batch, int Channels, int Spatial, bool IsRows, bool IsChannelsLast)
{
    /// <summary>Describes a tensor the kernels can read as it is; false for other strides (copy to row-major first).</summary>
    public static bool TryDescribe<T>(Tensor<T> tensor, out NormLayout layout)
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths;
        long spatial = 1;
        for (int d = 2; d < lengths.Length; d++) spatial *= lengths[d];
        int batch = (int)lengths[0], channels = (int)lengths[1];
        if (TensorStorage.IsRowMajor(tensor))
        {
            layout = new NormLayout(batch, channels, (int)spatial, spatial == 1, false);
            return true;
        }

        if (HasChannelsLastStrides(tensor))
        {
            layout = new NormLayout(batch, channels, (int)spatial, true, true);
            return true;
        }

        layout = default;
        return false;
    }

    /// <summary>
    /// Channels-last as PyTorch defines it for rank 4 and 5: memory ordered (N, spatial..., C), so the channel
    /// stride is 1 and the spatial dimensions are row-major over rows of C.
    /// </summary>
    public static bool HasChannelsLastStrides<T>(Tensor<T> tensor)
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths, strides = tensor.Strides;
        if (lengths.Length is not (4 or 5)) return false;
        nint expected = 1;
        if (lengths[1] != 1 && strides[1] != expected) return false;
        expected *= lengths[1];
        for (int d = lengths.Length - 1; d >= 2; d--)
        {
            if (lengths[d] != 1 && strides[d] != expected) return false;
            expected *= lengths[d];
        }

        return lengths[0] == 1 || strides[0] == expected;
    }

    /// <summary>The strides of a channels-last tensor of these lengths (0 for a dimension of length 1, the form
    /// System.Numerics.Tensors requires).</summary>
    public static nint[] ChannelsLastStrides(ReadOnlySpan<nint> lengths)
    {
        var strides = new nint[lengths.Length];
        foreach (nint length in lengths)
            if (length == 0) return strides; // an empty tensor has nothing to address
        nint stride = 1;
        strides[1] = lengths[1] == 1 ? 0 : stride;
        stride *= lengths[1];
        for (int d = lengths.Length - 1; d >= 2; d--)
        {
            strides[d] = lengths[d] == 1 ? 0 : stride;
            stride *= lengths[d];
        }

        strides[0] = lengths[0] == 1 ? 0 : stride;
        return strides;
    }

    /// <summary>A new, uninitialized tensor with the same lengths and memory layout as <paramref name="like"/>.</summary>
    public Tensor<T> AllocateLike<T>(Tensor<T> like) =>
        IsChannelsLast ? Tensor.CreateFromShapeUninitialized<T>(like.Lengths, ChannelsLastStrides(like.Lengths))
                       : Tensor.CreateFromShapeUninitialized<T>(like.Lengths);

    /// <summary>Whether <paramref name="other"/> has these lengths and lies in memory the same way.</summary>
    public bool Matches<T>(Tensor<T> other, ReadOnlySpan<nint> lengths) =>
        other.Lengths.SequenceEqual(lengths) && (IsChannelsLast ? HasChannelsLastStrides(other) : TensorStorage.IsRowMajor(other));
}
