using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NormSharp;

/// <summary>
/// Access to the memory behind a <see cref="Tensor{T}"/>, always through the tensor's own first element: a slice of a
/// larger tensor starts at its offset, never at the start of the array it shares.
/// </summary>
/// <remarks>
/// <c>Tensor&lt;T&gt;.GetPinnableReference()</c> (System.Numerics.Tensors 10) returns the start of the backing array, not
/// of a slice; <c>AsTensorSpan().GetPinnableReference()</c> returns the slice's element [0, ..., 0]. Everything here goes
/// through the latter.
/// </remarks>
internal static class TensorStorage
{
    /// <summary>True when the tensor's strides are the row-major ones for its lengths (always for an empty tensor, which
    /// addresses nothing and whose strides System.Numerics.Tensors sets to 0).</summary>
    public static bool IsRowMajor<T>(Tensor<T> tensor)
    {
        if (tensor.FlattenedLength == 0) return true;
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

    /// <summary>A reference to the tensor's element [0, ..., 0] (its offset in a shared array included).</summary>
    public static ref T First<T>(Tensor<T> tensor) => ref tensor.AsTensorSpan().GetPinnableReference();

    /// <summary>
    /// The elements of a dense tensor (row-major, or any permutation of it such as channels-last) as one span in memory
    /// order, starting at the tensor's element [0, ..., 0]; empty for an empty tensor.
    /// </summary>
    public static Span<T> Span<T>(Tensor<T> tensor)
    {
        if (tensor.FlattenedLength == 0) return [];
        if (tensor.FlattenedLength > int.MaxValue)
            throw new NotSupportedException("NormSharp supports tensors of at most 2^31 - 1 elements.");
        Debug.Assert(Extent(tensor) == tensor.FlattenedLength, "Span needs a dense tensor (no gaps, no repeated elements).");
        return MemoryMarshal.CreateSpan(ref First(tensor), (int)tensor.FlattenedLength);
    }

    /// <summary>
    /// How many elements of memory the tensor spans, from its element [0, ..., 0] to its last: 1 + Σ (length - 1) · stride
    /// (0 for an empty tensor). Equal to the element count for a dense tensor, larger for a strided view.
    /// </summary>
    public static long Extent<T>(Tensor<T> tensor)
    {
        if (tensor.FlattenedLength == 0) return 0;
        ReadOnlySpan<nint> lengths = tensor.Lengths, strides = tensor.Strides;
        long extent = 1;
        for (int d = 0; d < lengths.Length; d++) extent += (long)(lengths[d] - 1) * strides[d];
        return extent;
    }

    /// <summary>
    /// Whether the memory ranges of two tensors intersect (judged by their extents, so two interleaved strided views of
    /// one array count as overlapping). Empty tensors overlap nothing.
    /// </summary>
    public static bool Overlap<T>(Tensor<T> a, Tensor<T> b)
        => Overlap(a, b, Extent(a), Extent(b));

    /// <summary><see cref="Overlap{T}(Tensor{T}, Tensor{T})"/> given the two tensors' <see cref="Extent{T}"/>.</summary>
    public static bool Overlap<T>(Tensor<T> a, Tensor<T> b, long extentA, long extentB)
    {
        if (extentA == 0 || extentB == 0) return false;
        long offset = ByteOffset(a, b), size = Unsafe.SizeOf<T>();
        return offset < extentA * size && -offset < extentB * size;
    }

    /// <summary>Whether two tensors are the same elements: same first element, lengths and strides.</summary>
    public static bool SameElements<T>(Tensor<T> a, Tensor<T> b) =>
        ReferenceEquals(a, b)
        || (a.Lengths.SequenceEqual(b.Lengths) && a.Strides.SequenceEqual(b.Strides) && (a.FlattenedLength == 0 || ByteOffset(a, b) == 0));

    /// <summary>Where b's element [0, ..., 0] lies relative to a's, in bytes (both read at one instant, so a moving
    /// garbage collector cannot make two different arrays seem to overlap).</summary>
    private static long ByteOffset<T>(Tensor<T> a, Tensor<T> b) => Unsafe.ByteOffset(ref First(a), ref First(b));

    /// <summary>
    /// Whether two elements of the tensor lie at one memory location (a broadcast view with a stride of 0, or strides that
    /// interleave): judged by sorting its dimensions longer than 1 by stride, each of which must step past everything the
    /// shorter strides reach. Writing such a tensor element by element would make the result depend on the order.
    /// </summary>
    public static bool HasRepeatedElements<T>(Tensor<T> tensor)
    {
        if (tensor.FlattenedLength <= 1) return false;
        ReadOnlySpan<nint> lengths = tensor.Lengths, strides = tensor.Strides;
        Span<(nint Stride, nint Length)> dimensions = stackalloc (nint, nint)[lengths.Length];
        int count = 0;
        for (int d = 0; d < lengths.Length; d++)
            if (lengths[d] > 1) dimensions[count++] = (Math.Abs(strides[d]), lengths[d]);
        dimensions = dimensions[..count];
        dimensions.Sort((a, b) => a.Stride.CompareTo(b.Stride));
        long reach = 0;
        foreach (var (stride, length) in dimensions)
        {
            if (stride <= reach) return true;
            reach += (long)(length - 1) * stride;
        }

        return false;
    }

    /// <summary>
    /// Writes the values of a row-major tensor into <paramref name="destination"/> (same element count, any strides),
    /// element by element in logical order, through the destination's own offset and strides: nothing between or outside
    /// its elements is touched.
    /// </summary>
    public static void CopyInto<T>(Tensor<T> rowMajorSource, Tensor<T> destination)
    {
        Debug.Assert(IsRowMajor(rowMajorSource) && rowMajorSource.FlattenedLength == destination.FlattenedLength, "a row-major source of the destination's size");
        Span<T> values = Span(rowMajorSource);
        if (values.IsEmpty) return;
        ReadOnlySpan<nint> lengths = destination.Lengths, strides = destination.Strides;
        ref T first = ref First(destination);
        Span<nint> index = stackalloc nint[lengths.Length];
        index.Clear();
        nint offset = 0;
        for (int i = 0; i < values.Length; i++)
        {
            Unsafe.Add(ref first, offset) = values[i];
            for (int d = lengths.Length - 1; d >= 0; d--)
            {
                if (++index[d] < lengths[d])
                {
                    offset += strides[d];
                    break;
                }

                offset -= (index[d] - 1) * strides[d];
                index[d] = 0;
            }
        }
    }

    /// <summary>Sets every element of the tensor to <paramref name="value"/>, through its own offset and strides (nothing
    /// between or outside its elements is touched).</summary>
    public static void FillElements<T>(Tensor<T> tensor, T value)
    {
        if (IsRowMajor(tensor)) Span(tensor).Fill(value);
        else CopyInto(Filled(tensor.Lengths, value), tensor);
    }

    /// <summary>A new row-major tensor of the given lengths, every element set to <paramref name="value"/>.</summary>
    public static Tensor<T> Filled<T>(ReadOnlySpan<nint> lengths, T value)
    {
        Tensor<T> tensor = Tensor.CreateFromShapeUninitialized<T>(lengths);
        tensor.Fill(value);
        return tensor;
    }
}
