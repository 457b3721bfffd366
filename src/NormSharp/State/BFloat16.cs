namespace NormSharp;

/// <summary>bfloat16, the upper 16 bits of a float32, as PyTorch converts to it: round to nearest, ties to even; NaN kept quiet.</summary>
internal static class BFloat16
{
    /// <summary>The bfloat16 bits nearest <paramref name="value"/>.</summary>
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The float32 a bfloat16 stands for (exact).</summary>
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>The float nearest <paramref name="value"/> that bfloat16 represents.</summary>
    public static float Round(float value) => ToSingle(FromSingle(value));
}
