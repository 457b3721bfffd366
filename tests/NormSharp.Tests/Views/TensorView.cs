using System.Numerics;

namespace NormSharp.Tests.Views;

/// <summary>How a test tensor lies in its backing array.</summary>
public enum ViewKind
{
    /// <summary>Row-major, starting at a random offset inside a larger array.</summary>
    RowMajor,

    /// <summary>Channels-last (N, *, C) memory order at a random offset (rank 4 and 5 only).</summary>
    ChannelsLast,

    /// <summary>Row-major order with gaps between rows and planes (not dense: NormSharp reads a copy).</summary>
    Padded,
}

/// <summary>
/// A tensor that is a view into a larger array filled with a sentinel: its elements lie at an offset and with the strides
/// of <see cref="Kind"/>, every other element of the array holds the sentinel. Lets a test check that a call reads the
/// view's own elements and writes nothing outside it.
/// </summary>
public sealed class TensorView<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static readonly T Sentinel = T.CreateTruncating(-7777.25);

    private readonly bool[] covered;

    private TensorView(T[] backing, bool[] covered, Tensor<T> tensor, ViewKind kind)
    {
        Backing = backing;
        this.covered = covered;
        Tensor = tensor;
        Kind = kind;
    }

    public T[] Backing { get; }

    public Tensor<T> Tensor { get; }

    public ViewKind Kind { get; }

    /// <summary>A view of <paramref name="lengths"/> holding <paramref name="values"/> (row-major logical order).</summary>
    public static TensorView<T> Create(Random rng, nint[] lengths, ReadOnlySpan<T> values, ViewKind kind)
    {
        nint[] strides = Strides(rng, lengths, kind);
        int start = rng.Next(0, 9);
        long extent = 1;
        bool empty = lengths.Any(l => l == 0);
        for (int d = 0; d < lengths.Length; d++) extent += (lengths[d] - 1) * strides[d];
        if (empty) extent = 0;
        var backing = new T[start + extent + rng.Next(0, 9)];
        Array.Fill(backing, Sentinel);
        var covered = new bool[backing.Length];
        var index = new nint[lengths.Length];
        for (int i = 0; i < values.Length; i++)
        {
            long offset = start;
            for (int d = 0; d < lengths.Length; d++) offset += index[d] * strides[d];
            backing[offset] = values[i];
            covered[offset] = true;
            for (int d = lengths.Length - 1; d >= 0; d--)
            {
                if (++index[d] < lengths[d]) break;
                index[d] = 0;
            }
        }

        return new TensorView<T>(backing, covered, System.Numerics.Tensors.Tensor.Create(backing, start, lengths, strides), kind);
    }

    /// <summary>A dense tensor with the same values and the same memory order as this view, at offset 0 of its own array
    /// (row-major for a padded view, which NormSharp reads through a row-major copy).</summary>
    public Tensor<T> Dense()
    {
        var values = new T[Tensor.FlattenedLength];
        Tensor.FlattenTo(values);
        nint[] lengths = Tensor.Lengths.ToArray();
        return Kind != ViewKind.ChannelsLast || values.Length == 0
            ? System.Numerics.Tensors.Tensor.Create(values, lengths)
            : ChannelsLastAtZero(lengths, values);
    }

    /// <summary>Asserts that every element outside the view still holds the sentinel.</summary>
    public void AssertOutsideUntouched(string what)
    {
        for (int i = 0; i < Backing.Length; i++)
            if (!covered[i] && !Backing[i].Equals(Sentinel))
                Assert.Fail($"{what}: element {i} of the backing array, outside the view, was overwritten with {Backing[i]}.");
    }

    /// <summary>A copy of the whole backing array, to check later that a read-only argument was not written.</summary>
    public T[] Snapshot() => (T[])Backing.Clone();

    private static Tensor<T> ChannelsLastAtZero(nint[] lengths, T[] values)
    {
        nint[] strides = Strides(null, lengths, ViewKind.ChannelsLast);
        long extent = 1;
        for (int d = 0; d < lengths.Length; d++) extent += (lengths[d] - 1) * strides[d];
        var backing = new T[extent];
        var index = new nint[lengths.Length];
        for (int i = 0; i < values.Length; i++)
        {
            long offset = 0;
            for (int d = 0; d < lengths.Length; d++) offset += index[d] * strides[d];
            backing[offset] = values[i];
            for (int d = lengths.Length - 1; d >= 0; d--)
            {
                if (++index[d] < lengths[d]) break;
                index[d] = 0;
            }
        }

        return System.Numerics.Tensors.Tensor.Create(backing, 0, lengths, strides);
    }

    private static nint[] Strides(Random? rng, nint[] lengths, ViewKind kind)
    {
        var strides = new nint[lengths.Length];
        if (lengths.Any(l => l == 0)) return strides;
        nint stride = 1;
        if (kind == ViewKind.ChannelsLast)
        {
            strides[1] = stride;
            stride *= lengths[1];
            for (int d = lengths.Length - 1; d >= 2; d--)
            {
                strides[d] = stride;
                stride *= lengths[d];
            }

            strides[0] = stride;
        }
        else
        {
            for (int d = lengths.Length - 1; d >= 0; d--)
            {
                strides[d] = stride;
                stride = stride * lengths[d] + (kind == ViewKind.Padded ? rng!.Next(1, 4) : 0);
            }
        }

        // System.Numerics.Tensors wants stride 0 for a dimension of length 1.
        for (int d = 0; d < lengths.Length; d++)
            if (lengths[d] == 1) strides[d] = 0;
        return strides;
    }
}
