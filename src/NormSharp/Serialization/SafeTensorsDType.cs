using System.Buffers.Binary;

namespace NormSharp.Serialization;

/// <summary>The element types of the safetensors format: their names, sizes, and the conversions NormSharp does.</summary>
internal static class SafeTensorsDType
{
    /// <summary>Every dtype name the format defines, with its size in bytes.</summary>
    private static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>The size in bytes of one element, or false for a name the format does not define.</summary>
    public static bool TryGetSize(string name, out int size) => Sizes.TryGetValue(name, out size);

    /// <summary>The NormSharp type of a file dtype, or null for the ones read past (integers other than I64, booleans, fp8).</summary>
    public static StateDType? ToStateDType(string name) => name switch
    {
        "F32" => StateDType.Float32,
        "F64" => StateDType.Float64,
        "F16" => StateDType.Float16,
        "BF16" => StateDType.BFloat16,
        "I64" => StateDType.Int64,
        _ => null,
    };

    /// <summary>The file dtype of a NormSharp type.</summary>
    public static string Name(StateDType dtype) => dtype switch
    {
        StateDType.Float32 => "F32",
        StateDType.Float64 => "F64",
        StateDType.Float16 => "F16",
        StateDType.BFloat16 => "BF16",
        _ => "I64",
    };

    /// <summary>Size in bytes of one element of a NormSharp type in a file.</summary>
    public static int Size(StateDType dtype) => dtype switch
    {
        StateDType.Float16 or StateDType.BFloat16 => 2,
        StateDType.Float32 => 4,
        _ => 8,
    };

    /// <summary>Decodes little-endian bytes into the array a <see cref="StateTensor"/> of that type holds.</summary>
    public static Array Decode(StateDType dtype, ReadOnlySpan<byte> bytes)
    {
        switch (dtype)
        {
            case StateDType.Float32:
            {
                var values = new float[bytes.Length / 4];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                return values;
            }
            case StateDType.Float64:
            {
                var values = new double[bytes.Length / 8];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]);
                return values;
            }
            case StateDType.Float16:
            {
                var values = new float[bytes.Length / 2];
                for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                return values;
            }
            case StateDType.BFloat16:
            {
                var values = new float[bytes.Length / 2];
                for (int i = 0; i < values.Length; i++)
                    values[i] = BFloat16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                return values;
            }
            default:
            {
                var values = new long[bytes.Length / 8];
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes[(8 * i)..]);
                return values;
            }
        }
    }

    /// <summary>Encodes a tensor's values as little-endian bytes of its type into <paramref name="destination"/>.</summary>
    public static void Encode(StateTensor tensor, Span<byte> destination)
    {
        Array values = tensor.Values;
        switch (tensor.DType)
        {
            case StateDType.Float32:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination[(4 * i)..], ((float[])values)[i]);
                break;
            case StateDType.Float64:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(destination[(8 * i)..], ((double[])values)[i]);
                break;
            case StateDType.Float16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(destination[(2 * i)..], (Half)((float[])values)[i]);
                break;
            case StateDType.BFloat16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], BFloat16.FromSingle(((float[])values)[i]));
                break;
            default:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(destination[(8 * i)..], ((long[])values)[i]);
                break;
        }
    }
}
