using System.Globalization;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

/// <summary>The element type of a <see cref="StateTensor"/> (safetensors' F32, F64, I64).</summary>
public enum StateDType
{
    /// <summary>32-bit float (PyTorch float32).</summary>
    Float32,

    /// <summary>64-bit float (PyTorch float64).</summary>
    Float64,

    /// <summary>64-bit integer (PyTorch int64, the counter's type).</summary>
    Int64,

    /// <summary>IEEE half precision (safetensors F16); the values are held as float, exactly.</summary>
    Float16,

    /// <summary>bfloat16 (safetensors BF16); the values are held as float, exactly.</summary>
    BFloat16,
}

/// <summary>
/// One entry of a <see cref="StateDict"/>: an element type, a shape and a copy of the values.
/// A 0-dim tensor (PyTorch's <c>tensor(5)</c>) has an empty shape and one value.
/// </summary>
/// <remarks>
/// An entry can also be <b>uninitialized</b> (<see cref="IsUninitialized"/>): what a lazy layer's state dict holds for a
/// weight, bias or running statistic its first forward has not created yet, PyTorch's <c>UninitializedParameter</c> and
/// <c>UninitializedBuffer</c>. It has an element type but no shape and no values: reading <see cref="Shape"/> throws
/// PyTorch's <c>Can't access the shape of an uninitialized parameter or buffer. ...</c>, and reading its values throws
/// PyTorch's <c>Attempted to use an uninitialized parameter in ...</c>; <see cref="ConvertTo"/> (PyTorch's <c>.to(dtype)</c>)
/// and printing work. Loading one into a lazy layer that is still uninitialized keeps that layer uninitialized; loading one
/// into an initialized layer fails as in PyTorch; safetensors files cannot hold one.
/// </remarks>
public sealed class StateTensor
{
    private readonly Array values;
    private readonly long[] shape;

    // PyTorch's class name of an uninitialized entry (UninitializedParameter or UninitializedBuffer); null for a tensor.
    private readonly string? uninitializedClass;

    private StateTensor(StateDType dtype, string uninitializedClass)
    {
        DType = dtype;
        shape = [];
        values = Array.Empty<float>();
        this.uninitializedClass = uninitializedClass;
    }

    private StateTensor(StateDType dtype, long[] shape, Array values)
    {
        long count = 1;
        foreach (long length in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(length, nameof(shape));
            count *= length;
        }

        if (count != values.Length)
            throw new ArgumentException($"a tensor of shape [{string.Join(", ", shape)}] needs {count} values, got {values.Length}.");
        DType = dtype;
        this.shape = shape;
        this.values = values;
    }

    /// <summary>The element type (also of an uninitialized entry: the type its tensor will be created with).</summary>
    public StateDType DType { get; }

    /// <summary>
    /// True for an uninitialized entry (PyTorch's <c>UninitializedParameter</c> or <c>UninitializedBuffer</c>, as
    /// <c>torch.nn.parameter.is_lazy</c> tells them): it has no shape and no values.
    /// </summary>
    public bool IsUninitialized => uninitializedClass is not null;

    /// <summary>True for an uninitialized parameter (a lazy layer's weight or bias), false for an uninitialized buffer or a
    /// tensor.</summary>
    public bool IsUninitializedParameter => uninitializedClass == UninitializedParameterClass;

    /// <summary>The shape; empty for a 0-dim scalar.</summary>
    /// <exception cref="InvalidOperationException">The entry is uninitialized (PyTorch's
    /// <c>Can't access the shape of an uninitialized parameter or buffer. ...</c>).</exception>
    public IReadOnlyList<long> Shape => uninitializedClass is null ? shape : throw new InvalidOperationException(TorchMessages.UninitializedShape);

    /// <summary>The number of elements.</summary>
    /// <exception cref="InvalidOperationException">The entry is uninitialized.</exception>
    public int Count => uninitializedClass is null ? values.Length : throw Uninitialized(nameof(Count));

    private const string UninitializedParameterClass = "UninitializedParameter", UninitializedBufferClass = "UninitializedBuffer";

    /// <summary>
    /// An uninitialized parameter, PyTorch's <c>UninitializedParameter</c>: what a lazy layer's state dict holds for a weight or
    /// bias before its first forward.
    /// </summary>
    /// <param name="dtype">The element type its tensor will have.</param>
    public static StateTensor UninitializedParameter(StateDType dtype = StateDType.Float32) => new(dtype, UninitializedParameterClass);

    /// <summary>
    /// An uninitialized buffer, PyTorch's <c>UninitializedBuffer</c>: what a lazy layer's state dict holds for a running statistic
    /// before its first forward.
    /// </summary>
    /// <param name="dtype">The element type its tensor will have.</param>
    public static StateTensor UninitializedBuffer(StateDType dtype = StateDType.Float32) => new(dtype, UninitializedBufferClass);

    private InvalidOperationException Uninitialized(string operation) => new(TorchMessages.UninitializedUse(operation, uninitializedClass!));

    /// <summary>A float32 tensor holding a copy of <paramref name="values"/>.</summary>
    public static StateTensor FromSingles(ReadOnlySpan<float> values, params long[] shape) => new(StateDType.Float32, shape, values.ToArray());

    /// <summary>A float64 tensor holding a copy of <paramref name="values"/>.</summary>
    public static StateTensor FromDoubles(ReadOnlySpan<double> values, params long[] shape) => new(StateDType.Float64, shape, values.ToArray());

    /// <summary>An int64 tensor holding a copy of <paramref name="values"/>.</summary>
    public static StateTensor FromInt64s(ReadOnlySpan<long> values, params long[] shape) => new(StateDType.Int64, shape, values.ToArray());

    /// <summary>A float16 tensor holding <paramref name="values"/> (held as float, exactly): e.g. the values of a half-precision
    /// checkpoint that another reader decoded.</summary>
    public static StateTensor FromHalves(ReadOnlySpan<Half> values, params long[] shape)
    {
        var singles = new float[values.Length];
        TensorPrimitives.ConvertToSingle(values, singles);
        return new(StateDType.Float16, shape, singles);
    }

    /// <summary>A bfloat16 tensor from bfloat16 bit patterns (each the upper 16 bits of a float32), held as float, exactly.</summary>
    public static StateTensor FromBFloat16Bits(ReadOnlySpan<ushort> bits, params long[] shape)
    {
        var singles = new float[bits.Length];
        for (int i = 0; i < bits.Length; i++) singles[i] = BFloat16.ToSingle(bits[i]);
        return new(StateDType.BFloat16, shape, singles);
    }

    /// <summary>Values read from a file, kept with the file's element type (F16 and BF16 held as float).</summary>
    internal static StateTensor FromStored(StateDType dtype, long[] shape, Array values) => new(dtype, shape, values);

    /// <summary>A 0-dim int64 scalar, the shape PyTorch gives <c>num_batches_tracked</c>.</summary>
    public static StateTensor Scalar(long value) => new(StateDType.Int64, [], new[] { value });

    /// <summary>
    /// The same values in another element type, as PyTorch's <c>tensor.to(dtype)</c>: floating types round to the nearest
    /// representable value (bfloat16 ties to even), and a floating tensor converted to Int64 truncates toward zero. Use it
    /// to write half-precision checkpoints (<see cref="StateDict.ToFloatingType"/> converts a whole state dict).
    /// </summary>
    /// <param name="dtype">The element type wanted.</param>
    /// <returns>This tensor when it already has that type, else a converted copy.</returns>
    public StateTensor ConvertTo(StateDType dtype)
    {
        if (dtype == DType) return this;
        if (uninitializedClass is not null) return new StateTensor(dtype, uninitializedClass);
        double[] source = ToDoubles();
        Array converted = dtype switch
        {
            StateDType.Float32 => source.Select(v => (float)v).ToArray(),
            StateDType.Float64 => source,
            StateDType.Float16 => source.Select(v => (float)(Half)v).ToArray(),
            StateDType.BFloat16 => source.Select(v => BFloat16.Round((float)v)).ToArray(),
            _ => DType == StateDType.Int64 ? values : source.Select(v => (long)v).ToArray(),
        };
        return new StateTensor(dtype, shape, converted);
    }

    /// <summary>A 1-D copy of a float or double tensor, in row-major order.</summary>
    public static StateTensor FromTensor<T>(Tensor<T> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        long[] lengths = tensor.Lengths.ToArray().Select(l => (long)l).ToArray();
        var copy = new T[tensor.FlattenedLength];
        tensor.FlattenTo(copy);
        return copy switch
        {
            float[] f => new StateTensor(StateDType.Float32, lengths, f),
            double[] d => new StateTensor(StateDType.Float64, lengths, d),
            _ => throw new NotSupportedException($"state tensors hold float, double or long values, not {typeof(T).Name}."),
        };
    }

    /// <summary>The values converted to double (an int64 value converts exactly up to 2^53).</summary>
    /// <exception cref="InvalidOperationException">The entry is uninitialized.</exception>
    public double[] ToDoubles() => uninitializedClass is not null ? throw Uninitialized(nameof(ToDoubles)) : values switch
    {
        float[] f => f.Select(v => (double)v).ToArray(),
        double[] d => (double[])d.Clone(),
        long[] l => l.Select(v => (double)v).ToArray(),
        _ => throw new InvalidOperationException("unknown element type."),
    };

    /// <summary>The values converted to int64, floats truncated toward zero as PyTorch's <c>copy_</c> does.</summary>
    /// <exception cref="InvalidOperationException">The entry is uninitialized.</exception>
    public long[] ToInt64s() => uninitializedClass is not null ? throw Uninitialized(nameof(ToInt64s)) : values switch
    {
        long[] l => (long[])l.Clone(),
        float[] f => f.Select(v => (long)v).ToArray(),
        double[] d => d.Select(v => (long)v).ToArray(),
        _ => throw new InvalidOperationException("unknown element type."),
    };

    /// <summary>The values as a new tensor of T (converted when the element type differs), with this shape.</summary>
    /// <exception cref="InvalidOperationException">The entry is uninitialized.</exception>
    public Tensor<T> ToTensor<T>()
    {
        if (uninitializedClass is not null) throw Uninitialized(nameof(ToTensor));
        T[] converted = values switch
        {
            T[] same => (T[])same.Clone(),
            _ => ToDoubles().Select(v => (T)Convert.ChangeType(v, typeof(T), CultureInfo.InvariantCulture)).ToArray(),
        };
        return Tensor.Create(converted, shape.Select(l => (nint)l).ToArray());
    }

    /// <summary>The raw values array (float[], double[] or long[]), for serializers.</summary>
    internal Array Values => uninitializedClass is null ? values : throw Uninitialized(nameof(Values));

    /// <summary>The values as PyTorch prints a tensor, with its dtype when it is not float32, e.g.
    /// <c>tensor([0.1000, 0.2000], dtype=torch.float16)</c> or <c>tensor(12)</c> for a counter; an uninitialized entry as
    /// PyTorch prints one, <c>&lt;UninitializedParameter&gt;</c> or <c>&lt;UninitializedBuffer&gt;</c>.</summary>
    public override string ToString() => uninitializedClass is not null ? $"<{uninitializedClass}>" :
        TensorText.Format(shape.Select(l => (nint)l).ToArray(), ToDoubles(), DType switch
        {
            StateDType.Float64 => ", dtype=torch.float64",
            StateDType.Float16 => ", dtype=torch.float16",
            StateDType.BFloat16 => ", dtype=torch.bfloat16",
            _ => "",
        }, integral: DType == StateDType.Int64);
}
