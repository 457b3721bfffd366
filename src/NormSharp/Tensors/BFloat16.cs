using System.Globalization;

namespace NormSharp;

/// <summary>
/// bfloat16 (PyTorch's <c>torch.bfloat16</c>): the upper 16 bits of a float32, so the same exponent range as float with 8
/// significant bits. The element type of bfloat16 tensors (<c>Tensor&lt;BFloat16&gt;</c>) for NormSharp's mixed-precision
/// calls; .NET 10 has no bfloat16 type of its own.
/// </summary>
/// <remarks>
/// Conversions are PyTorch's: from float by rounding to the nearest bfloat16, ties to even (a NaN stays a quiet NaN), to
/// float exactly. Comparisons are IEEE's, as for <see cref="Half"/>: NaN is unequal to everything, +0 equals -0;
/// <see cref="Equals(BFloat16)"/> follows <see cref="Half.Equals(Half)"/> (NaN equals NaN) so that the type works as a
/// dictionary key. No arithmetic: NormSharp computes in float and stores the results in bfloat16.
/// <example>
/// <code>
/// var x = Tensor.Create(values.Select(v => (BFloat16)v).ToArray(), [8, 64, 14, 14]);
/// Tensor&lt;BFloat16&gt; y = new BatchNorm2d(64).Forward(x);   // float32 layer, bfloat16 input and output
/// float first = (float)y[0, 0, 0, 0];
/// </code>
/// </example>
/// </remarks>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IComparable, IFormattable
{
    private readonly ushort bits;

    private BFloat16(ushort bits) => this.bits = bits;

    /// <summary>The bfloat16 with these bits (sign, 8 exponent bits, 7 significand bits).</summary>
    /// <param name="bits">The bit pattern, the upper half of the float32 it stands for.</param>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>This value's bit pattern.</summary>
    public ushort ToBits() => bits;

    /// <summary>Whether the value is NaN.</summary>
    /// <param name="value">The value to test.</param>
    public static bool IsNaN(BFloat16 value) => (value.bits & 0x7FFF) > 0x7F80;

    /// <summary>The bfloat16 nearest <paramref name="value"/>, ties to even; NaN stays NaN (quiet), ±Inf and overflow give ±Inf.</summary>
    /// <param name="value">The float to round.</param>
    public static explicit operator BFloat16(float value) => new(FromSingle(value));

    /// <summary>The float this bfloat16 stands for (exact).</summary>
    /// <param name="value">The value to widen.</param>
    public static explicit operator float(BFloat16 value) => ToSingle(value.bits);

    /// <summary>The double this bfloat16 stands for (exact).</summary>
    /// <param name="value">The value to widen.</param>
    public static explicit operator double(BFloat16 value) => ToSingle(value.bits);

    /// <summary>IEEE equality: false when either is NaN, true for +0 and -0.</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    public static bool operator ==(BFloat16 left, BFloat16 right) => (float)left == (float)right;

    /// <summary>IEEE inequality: true when either is NaN.</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    public static bool operator !=(BFloat16 left, BFloat16 right) => (float)left != (float)right;

    /// <summary>IEEE order (false when either is NaN).</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    public static bool operator <(BFloat16 left, BFloat16 right) => (float)left < (float)right;

    /// <summary>IEEE order (false when either is NaN).</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    public static bool operator >(BFloat16 left, BFloat16 right) => (float)left > (float)right;

    /// <summary>IEEE order (false when either is NaN).</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    public static bool operator <=(BFloat16 left, BFloat16 right) => (float)left <= (float)right;

    /// <summary>IEEE order (false when either is NaN).</summary>
    /// <param name="left">One value.</param>
    /// <param name="right">The other.</param>
    public static bool operator >=(BFloat16 left, BFloat16 right) => (float)left >= (float)right;

    /// <summary>Equality as <see cref="Half.Equals(Half)"/> defines it: NaN equals NaN, +0 equals -0.</summary>
    /// <param name="other">The value to compare with.</param>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <summary>The order of <see cref="float.CompareTo(float)"/> (NaN first).</summary>
    /// <param name="other">The value to compare with.</param>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        BFloat16 other => CompareTo(other),
        _ => throw new ArgumentException("Object must be of type BFloat16.", nameof(obj)),
    };

    /// <summary>The value as its float prints (invariant culture).</summary>
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);

    /// <summary>The value as its float prints with this format.</summary>
    /// <param name="format">A numeric format string, or null.</param>
    /// <param name="formatProvider">The culture, or null for the current one.</param>
    public string ToString(string? format, IFormatProvider? formatProvider) => ((float)this).ToString(format, formatProvider);

    /// <summary>The bfloat16 bits nearest <paramref name="value"/>, as PyTorch rounds: to nearest, ties to even; NaN kept quiet.</summary>
    internal static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The float32 a bfloat16 bit pattern stands for (exact).</summary>
    internal static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>The float nearest <paramref name="value"/> that bfloat16 represents.</summary>
    internal static float Round(float value) => ToSingle(FromSingle(value));
}
