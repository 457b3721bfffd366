namespace NormSharp.PyTorch.Tensors;

/// <summary>A PyTorch element type: its name (<c>float32</c>), its size in bytes, and the <see cref="StateDType"/> NormSharp
/// loads it as (null for the types a state dict of normalization layers never needs: integers other than int64, bool,
/// complex, quantized).</summary>
internal sealed record TorchDType(string Name, int Size, StateDType? Loaded)
{
    public static readonly TorchDType Float32 = new("float32", 4, StateDType.Float32);
    public static readonly TorchDType Float64 = new("float64", 8, StateDType.Float64);
    public static readonly TorchDType Float16 = new("float16", 2, StateDType.Float16);
    public static readonly TorchDType BFloat16 = new("bfloat16", 2, StateDType.BFloat16);
    public static readonly TorchDType Int64 = new("int64", 8, StateDType.Int64);
    public static readonly TorchDType UInt8 = new("uint8", 1, null);

    /// <summary>The typed storage classes (<c>torch.FloatStorage</c>, and <c>torch.cuda.FloatStorage</c> from PyTorch before
    /// 1.13) by class name, with the element type of their data.</summary>
    public static readonly IReadOnlyDictionary<string, TorchDType> ByStorageClass = new Dictionary<string, TorchDType>(StringComparer.Ordinal)
    {
        ["FloatStorage"] = Float32,
        ["DoubleStorage"] = Float64,
        ["HalfStorage"] = Float16,
        ["BFloat16Storage"] = BFloat16,
        ["LongStorage"] = Int64,
        ["IntStorage"] = new("int32", 4, null),
        ["ShortStorage"] = new("int16", 2, null),
        ["CharStorage"] = new("int8", 1, null),
        ["ByteStorage"] = UInt8,
        ["BoolStorage"] = new("bool", 1, null),
        ["ComplexFloatStorage"] = new("complex64", 8, null),
        ["ComplexDoubleStorage"] = new("complex128", 16, null),
        ["QUInt8Storage"] = new("quint8", 1, null),
        ["QInt8Storage"] = new("qint8", 1, null),
        ["QInt32Storage"] = new("qint32", 4, null),
        ["QUInt4x2Storage"] = new("quint4x2", 1, null),
        ["QUInt2x4Storage"] = new("quint2x4", 1, null),
    };

    /// <summary>The dtype objects (<c>torch.float32</c>) a pickle may name, as <c>_rebuild_tensor_v3</c> takes them.</summary>
    public static readonly IReadOnlyDictionary<string, TorchDType> ByName = new[]
    {
        Float32, Float64, Float16, BFloat16, Int64, UInt8,
        new("int32", 4, null), new("int16", 2, null), new("int8", 1, null), new("bool", 1, null),
        new("complex32", 4, null), new("complex64", 8, null), new("complex128", 16, null),
    }.ToDictionary(d => d.Name, StringComparer.Ordinal);
}
