using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>
/// Conversions between float and the 16-bit storage types of mixed precision, <see cref="Half"/> (float16) and
/// <see cref="BFloat16"/>: widening (exact) and narrowing (to nearest, ties to even), over spans and inside the lanes'
/// loads. The storage type is a type parameter, <c>TStorage</c>: Half, BFloat16, or float itself (a copy).
/// </summary>
/// <remarks>
/// Each conversion is one formula on the bits, written once per width (Vector256, Vector128, scalar) with the same
/// operations, so every path gives the same bits, NaNs included:
/// <code>
/// float16 → float:  m = (h &amp; 0x7FFF) &lt;&lt; 13      (the magnitude in float's bit positions)
///                   m ≥ 0x0F800000 (Inf, NaN): bits = m | 0x7F800000       else: bits = bits(float(m) · 2^112)
///                   result = bits | (h &amp; 0x8000) &lt;&lt; 16      (2^112 rebiases the exponent; float16 subnormals come out exact)
/// float → float16:  a = |f| bits;  a ≥ 0x47800000 (|f| ≥ 65536, Inf, NaN): 0x7C00, or 0x7E00 for NaN (PyTorch's quiet NaN)
///                   a &lt; 0x38800000 (below float16's normal range): bits(float(a) + 0.5) - 0x3F000000   (the addition rounds)
///                   else: (a - 0x37FFF001 + ((a &gt;&gt; 13) &amp; 1)) &gt;&gt; 13      (rebias, round to nearest even)
///                   then | sign &gt;&gt; 16
/// bfloat16 → float: b &lt;&lt; 16
/// float → bfloat16: NaN: (bits &gt;&gt; 16) | 0x40;  else (bits + 0x7FFF + ((bits &gt;&gt; 16) &amp; 1)) &gt;&gt; 16
/// </code>
/// (float → float16 is the well-known branch-free form of IEEE rounding; it gives what <c>(Half)value</c> gives for every
/// value but NaN, whose payload it does not keep.) Maps use Vector256 at most, as the other maps do
/// (<see cref="BatchNormTransform"/>); the reductions' loads (<see cref="Lanes512{T}"/>) convert 8 values in a Vector256.
/// </remarks>
internal static class HalfConversion
{
    /// <summary>2^112, float16's exponent bias moved to float's.</summary>
    private const float Rebias = 5.192296858534828E+33f;

    /// <summary>Whether <typeparamref name="TStorage"/> is a 16-bit storage type this class converts (a constant once
    /// inlined; forced, because a kernel root that has spent the JIT's inlining budget otherwise calls it, and a call in a
    /// loop spills the accumulators to the stack).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsSixteenBit<TStorage>() => typeof(TStorage) == typeof(Half) || typeof(TStorage) == typeof(BFloat16);

    /// <summary>The float a float16 bit pattern stands for (the scalar model of the vector forms).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToSingle(ushort bits)
    {
        uint magnitude = (uint)(bits & 0x7FFF) << 13, sign = (uint)(bits & 0x8000) << 16;
        uint single = magnitude >= 0x0F800000
            ? magnitude | 0x7F800000
            : BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(magnitude) * Rebias);
        return BitConverter.UInt32BitsToSingle(single | sign);
    }

    /// <summary>The float16 bits nearest <paramref name="value"/>, ties to even (the scalar model of the vector forms).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToHalf(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value), sign = bits & 0x80000000, magnitude = bits ^ sign;
        uint half = magnitude >= 0x47800000 ? (magnitude > 0x7F800000 ? 0x7E00u : 0x7C00u)
            : magnitude < 0x38800000 ? BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(magnitude) + 0.5f) - 0x3F000000
            : (magnitude + 0xC8000FFF + ((magnitude >> 13) & 1)) >> 13;
        return (ushort)(half | (sign >> 16));
    }

    /// <summary>The float a bfloat16 bit pattern stands for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>The bfloat16 bits nearest <paramref name="value"/>, ties to even; NaN stays a quiet NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint rounded = (bits & 0x7FFFFFFF) > 0x7F800000 ? (bits >> 16) | 0x40 : (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
        return (ushort)rounded;
    }

    /// <summary>The 16-bit values of <typeparamref name="TStorage"/> (in the low half of each lane) widened to float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle<TStorage>(Vector128<uint> bits)
    {
        if (typeof(TStorage) == typeof(BFloat16)) return (bits << 16).AsSingle();
        Vector128<uint> magnitude = (bits & Vector128.Create(0x7FFFu)) << 13, sign = (bits & Vector128.Create(0x8000u)) << 16;
        Vector128<uint> scaled = (magnitude.AsSingle() * Vector128.Create(Rebias)).AsUInt32();
        Vector128<uint> single = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(magnitude, Vector128.Create(0x0F800000u)),
                                                             magnitude | Vector128.Create(0x7F800000u), scaled);
        return (single | sign).AsSingle();
    }

    /// <inheritdoc cref="ToSingle{TStorage}(Vector128{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle<TStorage>(Vector256<uint> bits)
    {
        if (typeof(TStorage) == typeof(BFloat16)) return (bits << 16).AsSingle();
        Vector256<uint> magnitude = (bits & Vector256.Create(0x7FFFu)) << 13, sign = (bits & Vector256.Create(0x8000u)) << 16;
        Vector256<uint> scaled = (magnitude.AsSingle() * Vector256.Create(Rebias)).AsUInt32();
        Vector256<uint> single = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x0F800000u)),
                                                             magnitude | Vector256.Create(0x7F800000u), scaled);
        return (single | sign).AsSingle();
    }

    /// <summary>Floats narrowed to the 16-bit bits of <typeparamref name="TStorage"/>, one per lane (upper halves 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> FromSingle<TStorage>(Vector128<float> values)
    {
        Vector128<uint> bits = values.AsUInt32(), sign = bits & Vector128.Create(0x80000000u), magnitude = bits ^ sign;
        if (typeof(TStorage) == typeof(BFloat16))
        {
            Vector128<uint> rounded = (bits + Vector128.Create(0x7FFFu) + ((bits >> 16) & Vector128.Create(1u))) >> 16;
            return Vector128.ConditionalSelect(Vector128.GreaterThan(magnitude, Vector128.Create(0x7F800000u)),
                                               (bits >> 16) | Vector128.Create(0x40u), rounded);
        }

        Vector128<uint> special = Vector128.ConditionalSelect(Vector128.GreaterThan(magnitude, Vector128.Create(0x7F800000u)),
                                                              Vector128.Create(0x7E00u), Vector128.Create(0x7C00u));
        Vector128<uint> small = (magnitude.AsSingle() + Vector128.Create(0.5f)).AsUInt32() - Vector128.Create(0x3F000000u);
        Vector128<uint> normal = (magnitude + Vector128.Create(0xC8000FFFu) + ((magnitude >> 13) & Vector128.Create(1u))) >> 13;
        Vector128<uint> half = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(magnitude, Vector128.Create(0x47800000u)), special,
                               Vector128.ConditionalSelect(Vector128.LessThan(magnitude, Vector128.Create(0x38800000u)), small, normal));
        return half | (sign >> 16);
    }

    /// <inheritdoc cref="FromSingle{TStorage}(Vector128{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> FromSingle<TStorage>(Vector256<float> values)
    {
        Vector256<uint> bits = values.AsUInt32(), sign = bits & Vector256.Create(0x80000000u), magnitude = bits ^ sign;
        if (typeof(TStorage) == typeof(BFloat16))
        {
            Vector256<uint> rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256.Create(1u))) >> 16;
            return Vector256.ConditionalSelect(Vector256.GreaterThan(magnitude, Vector256.Create(0x7F800000u)),
                                               (bits >> 16) | Vector256.Create(0x40u), rounded);
        }

        Vector256<uint> special = Vector256.ConditionalSelect(Vector256.GreaterThan(magnitude, Vector256.Create(0x7F800000u)),
                                                              Vector256.Create(0x7E00u), Vector256.Create(0x7C00u));
        Vector256<uint> small = (magnitude.AsSingle() + Vector256.Create(0.5f)).AsUInt32() - Vector256.Create(0x3F000000u);
        Vector256<uint> normal = (magnitude + Vector256.Create(0xC8000FFFu) + ((magnitude >> 13) & Vector256.Create(1u))) >> 13;
        Vector256<uint> half = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x47800000u)), special,
                               Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(0x38800000u)), small, normal));
        return half | (sign >> 16);
    }

    /// <summary>One value of <typeparamref name="TStorage"/> (Half, BFloat16 or float) as a float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle<TStorage>(TStorage value) where TStorage : unmanaged
    {
        if (typeof(TStorage) == typeof(float)) return Unsafe.BitCast<TStorage, float>(value);
        ushort bits = Unsafe.BitCast<TStorage, ushort>(value);
        return typeof(TStorage) == typeof(BFloat16) ? BFloat16ToSingle(bits) : HalfToSingle(bits);
    }

    /// <summary>
    /// destination[i] = source[i] widened to float (a copy when <typeparamref name="TStorage"/> is float). The two do not
    /// overlap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Widen<TStorage>(ReadOnlySpan<TStorage> source, Span<float> destination) where TStorage : unmanaged
    {
        if (typeof(TStorage) == typeof(float))
        {
            MemoryMarshal.Cast<TStorage, float>(source).CopyTo(destination);
            return;
        }

        ReadOnlySpan<ushort> bits = MemoryMarshal.Cast<TStorage, ushort>(source);
        ref ushort from = ref MemoryMarshal.GetReference(bits);
        ref float to = ref MemoryMarshal.GetReference(destination);
        int i = 0, length = bits.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= length - 16; i += 16)
            {
                Vector256<ushort> sixteen = Vector256.LoadUnsafe(ref from, (nuint)i);
                ToSingle<TStorage>(Vector256.WidenLower(sixteen)).StoreUnsafe(ref to, (nuint)i);
                ToSingle<TStorage>(Vector256.WidenUpper(sixteen)).StoreUnsafe(ref to, (nuint)i + 8);
            }
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= length - 8; i += 8)
            {
                Vector128<ushort> eight = Vector128.LoadUnsafe(ref from, (nuint)i);
                ToSingle<TStorage>(Vector128.WidenLower(eight)).StoreUnsafe(ref to, (nuint)i);
                ToSingle<TStorage>(Vector128.WidenUpper(eight)).StoreUnsafe(ref to, (nuint)i + 4);
            }
        }

        for (; i < length; i++)
            Unsafe.Add(ref to, i) = typeof(TStorage) == typeof(BFloat16) ? BFloat16ToSingle(Unsafe.Add(ref from, i)) : HalfToSingle(Unsafe.Add(ref from, i));
    }

    /// <summary>
    /// destination[i] = source[i] rounded to <typeparamref name="TStorage"/> (a copy when it is float). The two do not
    /// overlap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Narrow<TStorage>(ReadOnlySpan<float> source, Span<TStorage> destination) where TStorage : unmanaged
    {
        if (typeof(TStorage) == typeof(float))
        {
            source.CopyTo(MemoryMarshal.Cast<TStorage, float>(destination));
            return;
        }

        Span<ushort> bits = MemoryMarshal.Cast<TStorage, ushort>(destination);
        ref float from = ref MemoryMarshal.GetReference(source);
        ref ushort to = ref MemoryMarshal.GetReference(bits);
        int i = 0, length = source.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= length - 16; i += 16)
                Vector256.Narrow(FromSingle<TStorage>(Vector256.LoadUnsafe(ref from, (nuint)i)),
                                 FromSingle<TStorage>(Vector256.LoadUnsafe(ref from, (nuint)i + 8))).StoreUnsafe(ref to, (nuint)i);
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= length - 8; i += 8)
                Vector128.Narrow(FromSingle<TStorage>(Vector128.LoadUnsafe(ref from, (nuint)i)),
                                 FromSingle<TStorage>(Vector128.LoadUnsafe(ref from, (nuint)i + 4))).StoreUnsafe(ref to, (nuint)i);
        }

        for (; i < length; i++)
            Unsafe.Add(ref to, i) = typeof(TStorage) == typeof(BFloat16) ? SingleToBFloat16(Unsafe.Add(ref from, i)) : SingleToHalf(Unsafe.Add(ref from, i));
    }
}
