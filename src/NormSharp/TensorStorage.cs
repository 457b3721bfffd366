using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace NormSharp;

/// <summary>Access to the row-major storage behind a <see cref="Tensor{T}"/>.</summary>
internal static class TensorStorage
{
    /// <summary>True when the tensor's strides are the row-major ones for its lengths.</summary>
    public static bool IsRowMajor<T>(Tensor<T> tensor)
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths;
        ReadOnlySpan<nint> strides = tensor.Strides;
        nint expected = 1;
        for (int d = lengths.Length - 1; d >= 0; d--)
        {
            if (lengths[d] != 1 && strides[d] != expected) return false;
            expected *= lengths[d];
        }

        return true;
    }

    /// <summary>The tensor itself when it is row-major, else a row-major copy.</summary>
    public static Tensor<T> RowMajor<T>(Tensor<T> tensor) => IsRowMajor(tensor) ? tensor : RowMajorCopy(tensor);

    /// <summary>A new row-major tensor with the same elements (any strides in, logical order out).</summary>
    public static Tensor<T> RowMajorCopy<T>(Tensor<T> tensor)
    {
        var values = new T[tensor.FlattenedLength];
        tensor.FlattenTo(values);
        return Tensor.Create(values, tensor.Lengths);
    }

    /// <summary>The elements of a row-major tensor as one span (empty for an empty tensor).</summary>
    public static Span<T> Span<T>(Tensor<T> tensor)
    {
        if (tensor.FlattenedLength == 0) return [];
        if (tensor.FlattenedLength > int.MaxValue)
            throw new NotSupportedException("NormSharp supports tensors of at most 2^31 - 1 elements.");
        return MemoryMarshal.CreateSpan(ref tensor.GetPinnableReference(), (int)tensor.FlattenedLength);
    }

    /// <summary>A new row-major tensor of the given lengths, every element set to <paramref name="value"/>.</summary>
    public static Tensor<T> Filled<T>(ReadOnlySpan<nint> lengths, T value)
    {
        Tensor<T> tensor = Tensor.CreateFromShapeUninitialized<T>(lengths);
        tensor.Fill(value);
        return tensor;
    }
}
