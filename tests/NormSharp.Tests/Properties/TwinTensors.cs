using System.Numerics;
using System.Reflection;
using System.Text;

namespace NormSharp.Tests.Properties;

/// <summary>How a test tensor lies in memory.</summary>
internal enum TwinLayout
{
    /// <summary>Its own array, row-major.</summary>
    RowMajor,

    /// <summary>Channels-last (N, spatial..., C) strides; rank 4 and 5 only (row-major otherwise).</summary>
    ChannelsLast,

    /// <summary>Every other element of a larger array: neither row-major nor channels-last when it has 2+ elements.</summary>
    Gapped,

    /// <summary>Row-major, but starting a few elements into a larger array (a slice of a shared buffer).</summary>
    Offset,
}

/// <summary>Tensors for the twin tests: views on shared arrays, bit-exact descriptions, and the array behind a tensor.</summary>
internal static class TwinTensors
{
    public static long Count(ReadOnlySpan<nint> lengths)
    {
        long count = 1;
        foreach (nint length in lengths) count *= length;
        return count;
    }

    /// <summary>Row-major strides times <paramref name="factor"/>, 0 for a dimension of length 1 (as System.Numerics.Tensors
    /// requires of explicit strides).</summary>
    public static nint[] RowMajorStrides(ReadOnlySpan<nint> lengths, nint factor = 1)
    {
        var strides = new nint[lengths.Length];
        nint stride = factor;
        for (int d = lengths.Length - 1; d >= 0; d--)
        {
            strides[d] = lengths[d] == 1 ? 0 : stride;
            stride *= lengths[d];
        }

        return strides;
    }

    /// <summary>Channels-last strides of a rank-4 or rank-5 shape (0 for a dimension of length 1).</summary>
    public static nint[] ChannelsLastStrides(ReadOnlySpan<nint> lengths)
    {
        var strides = new nint[lengths.Length];
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

    /// <summary>The same rule as the library's: row-major strides for every dimension longer than 1.</summary>
    public static bool IsRowMajor<T>(Tensor<T> tensor)
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths, strides = tensor.Strides;
        nint expected = 1;
        for (int d = lengths.Length - 1; d >= 0; d--)
        {
            if (lengths[d] != 1 && strides[d] != expected) return false;
            expected *= lengths[d];
        }

        return true;
    }

    /// <summary>A view of <paramref name="array"/> (an empty shape gets a tensor of its own: it addresses no memory).</summary>
    public static Tensor<T> View<T>(T[] array, int start, nint[] lengths, nint[] strides) =>
        Count(lengths) == 0 ? Tensor.CreateFromShape<T>(lengths) : Tensor.Create(array, start, lengths, strides);

    /// <summary>A row-major view of <paramref name="lengths"/> starting at <paramref name="start"/> in <paramref name="array"/>.</summary>
    public static Tensor<T> RowMajorView<T>(T[] array, int start, nint[] lengths) => View(array, start, lengths, RowMajorStrides(lengths));

    /// <summary>A tensor with these values in logical (row-major index) order, laid out as asked.</summary>
    public static Tensor<T> Make<T>(double[] values, nint[] lengths, TwinLayout layout, int offset = 3)
        where T : IFloatingPointIeee754<T>
    {
        long count = Count(lengths);
        if (count == 0) return Tensor.CreateFromShape<T>(lengths);
        if (layout == TwinLayout.ChannelsLast && lengths.Length is not (4 or 5)) layout = TwinLayout.RowMajor;
        Tensor<T> tensor = layout switch
        {
            TwinLayout.RowMajor => Tensor.CreateFromShape<T>(lengths),
            TwinLayout.ChannelsLast => Tensor.Create(new T[count], 0, lengths, ChannelsLastStrides(lengths)),
            TwinLayout.Gapped => Tensor.Create(new T[2 * count + 1], 0, lengths, RowMajorStrides(lengths, 2)),
            _ => Tensor.Create(new T[count + offset + 2], offset, lengths, RowMajorStrides(lengths)),
        };
        Fill(tensor, values);
        return tensor;
    }

    /// <summary>Writes <paramref name="values"/> (logical order) into a tensor of any strides.</summary>
    public static void Fill<T>(Tensor<T> tensor, ReadOnlySpan<double> values) where T : IFloatingPointIeee754<T>
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths;
        var index = new nint[lengths.Length];
        for (int k = 0; k < values.Length; k++)
        {
            tensor[index] = T.CreateTruncating(values[k]);
            for (int d = lengths.Length - 1; d >= 0; d--)
            {
                if (++index[d] < lengths[d]) break;
                index[d] = 0;
            }
        }
    }

    public static T[] Flat<T>(Tensor<T> tensor)
    {
        var flat = new T[tensor.FlattenedLength];
        tensor.FlattenTo(flat);
        return flat;
    }

    /// <summary>The bit patterns of a value (as double: exact for float, NaN payloads and -0 kept).</summary>
    public static string Bits<T>(T value) where T : INumberBase<T> => $"{BitConverter.DoubleToInt64Bits(double.CreateTruncating(value)):X16}";

    /// <summary>Shape and bit patterns of every element, in logical order; "null" for null.</summary>
    public static string Bits<T>(Tensor<T>? tensor) where T : INumberBase<T>
    {
        if (tensor is null) return "null";
        var text = new StringBuilder();
        text.Append('[').AppendJoin(',', tensor.Lengths.ToArray()).Append("] ");
        foreach (T value in Flat(tensor)) text.Append(Bits(value)).Append(' ');
        return text.ToString();
    }

    /// <summary>Bits of a whole array (for buffers a test owns).</summary>
    public static string Bits<T>(T[] array) where T : INumberBase<T> => string.Join(' ', array.Select(Bits));

    /// <summary>Short readable values, for trial descriptions.</summary>
    public static string Show(ReadOnlySpan<nint> shape) => $"[{string.Join(", ", shape.ToArray())}]";

    private static readonly Dictionary<Type, (FieldInfo? Values, FieldInfo? Start)> Fields = [];

    /// <summary>
    /// The array behind a tensor and the index of its first element, read from System.Numerics.Tensors' private fields
    /// (<c>_values</c>, <c>_start</c>), or null when that version names them otherwise: the only way to build a tensor
    /// that shares memory with a layer's own buffers.
    /// </summary>
    public static (T[] Array, int Start)? Backing<T>(Tensor<T> tensor)
    {
        (FieldInfo? values, FieldInfo? start) fields;
        lock (Fields)
        {
            if (!Fields.TryGetValue(typeof(Tensor<T>), out fields))
            {
                const BindingFlags Flags = BindingFlags.Instance | BindingFlags.NonPublic;
                fields = (typeof(Tensor<T>).GetField("_values", Flags), typeof(Tensor<T>).GetField("_start", Flags));
                Fields[typeof(Tensor<T>)] = fields;
            }
        }

        return fields is { values: not null, start: not null } && fields.values.GetValue(tensor) is T[] array && fields.start.GetValue(tensor) is int first
            ? (array, first)
            : null;
    }
}
