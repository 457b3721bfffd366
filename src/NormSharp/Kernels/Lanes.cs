using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>
/// A block of lanes, so that each kernel is written once, over spans, and runs at every width: one register of
/// <see cref="Lanes512{T}"/>, <see cref="Lanes256{T}"/> or <see cref="Lanes128{T}"/>, a <see cref="ScalarLane{T}"/>
/// (the scalar path), or two or four registers side by side (<see cref="Pair{TLanes, T}"/>, <see cref="Quad{TLanes, T}"/>:
/// a kernel's unrolled block, independent chains of additions in flight).
/// </summary>
/// <remarks>
/// Every operation is lane by lane with one IEEE rounding (the fused multiply-add included), so a kernel gives the same
/// bits at every width as long as each lane sees the same values in the same order. <typeparamref name="T"/> is the
/// lanes' type: double for the reductions' accumulators, which widen float, float16 and bfloat16 values as they load
/// them, or the element type for maps, which compute in it. float and double are the only lane types; maps over 16-bit
/// storage compute in float (<see cref="HalfConversion"/>).
/// <para>A kernel is a public entry (preconditions as Debug.Assert, then the choice of width, inlined into its caller),
/// a root per width marked AggressiveOptimization, and loops over blocks that inline into the root. The roots skip
/// tiering because their unoptimized code, with the lane operations not inlined, runs many times slower than
/// the loops it replaced, and a short run can end before tiering replaces it.</para>
/// </remarks>
/// <typeparam name="TSelf">The implementing struct (its registers stay in registers once the JIT has inlined it).</typeparam>
/// <typeparam name="T">The type of a lane: float or double.</typeparam>
internal interface ILanes<TSelf, T> :
    IAdditionOperators<TSelf, TSelf, TSelf>, ISubtractionOperators<TSelf, TSelf, TSelf>, IMultiplyOperators<TSelf, TSelf, TSelf>
    where TSelf : struct, ILanes<TSelf, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Lanes in the block.</summary>
    static abstract int Count { get; }

    /// <summary>Whether this width runs in hardware on this machine.</summary>
    static abstract bool IsHardwareAccelerated { get; }

    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TSelf Create(T value);

    /// <summary>The <see cref="Count"/> values from source[index]: of type T, or float, float16 (<see cref="Half"/>) or
    /// <see cref="BFloat16"/> values widened to double lanes (exactly; <see cref="HalfConversion"/>), reading no memory past
    /// the last of them.</summary>
    static abstract TSelf Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged;

    /// <summary>Writes the lanes to destination[index], ..., destination[index + Count - 1].</summary>
    void Store(Span<T> destination, int index);

    /// <summary>Writes the lanes as <see cref="Store"/> does, past the caches (a non-temporal store: the line is not read
    /// first and does not evict the cache's contents); destination[index] must lie on a multiple of the register's size in
    /// bytes. The values written are the same; only where they go first differs.</summary>
    void StoreNonTemporal(Span<T> destination, int index);

    /// <summary>a·b + c in each lane, with one rounding.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>Folds the lanes by halves (lane i += lane i + Count/2, then + Count/4, ..., + 1) and returns lane 0.</summary>
    static abstract T FoldLanes(TSelf value);

    /// <summary>A mask of the lanes below <paramref name="count"/> (all bits set), the others 0: for <see cref="Keep"/>.</summary>
    static abstract TSelf LanesBelow(int count);

    /// <summary>The lanes of <paramref name="value"/> that <paramref name="mask"/> selects, the others +0.</summary>
    static abstract TSelf Keep(TSelf value, TSelf mask);
}

/// <summary>Facts about spans that the kernels check (in debug builds) or branch on.</summary>
internal static class Spans
{
    /// <summary>Whether <paramref name="count"/> values from <paramref name="index"/> lie inside a span of <paramref name="length"/>.</summary>
    public static bool Inside(int index, int count, int length) => index >= 0 && (long)index + count <= length;

    /// <summary>Whether lanes of <typeparamref name="T"/> load <typeparamref name="TSource"/>: the same type, or float, float16 or
    /// bfloat16 widened to double.</summary>
    public static bool Loads<TSource, T>() =>
        typeof(TSource) == typeof(T)
        || ((typeof(TSource) == typeof(float) || HalfConversion.IsSixteenBit<TSource>()) && typeof(T) == typeof(double));

    /// <summary>Asks the cache for x[at], ..., x[at + count - 1], a line at a time (a hint, no effect on any result; nothing
    /// outside x; on x86).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ReadOnlySpan<T> x, int at, int count)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        int end = Math.Min(x.Length, at + count);
        if (at < 0 || at >= end) return;
        byte* start = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetReference(x), at));
        long bytes = (long)(end - at) * Unsafe.SizeOf<T>();
        for (long b = 0; b < bytes; b += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch0(start + b);
    }

    /// <summary>Whether the two start at the same address: a map's output is its input (in place).</summary>
    public static bool SameStart<T>(ReadOnlySpan<T> input, ReadOnlySpan<T> output) =>
        Unsafe.AreSame(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));

    /// <summary>Whether a map's output is its input itself or memory apart from it: a map reads each value before it
    /// writes the same position, so a partial overlap is the one case it cannot take.</summary>
    public static bool SameOrApart<T>(ReadOnlySpan<T> input, ReadOnlySpan<T> output) => SameStart(input, output) || !input.Overlaps(output);
}

/// <summary>One Vector512: 16 float or 8 double lanes.</summary>
internal readonly struct Lanes512<T>(Vector512<T> value) : ILanes<Lanes512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector512<T> value = value;

    public static int Count => Vector512<T>.Count;

    public static bool IsHardwareAccelerated => Vector512.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Create(T value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged
    {
        Debug.Assert(Spans.Loads<TSource, T>() && Spans.Inside(index, Count, source.Length));
        ref TSource at = ref Unsafe.Add(ref MemoryMarshal.GetReference(source), index);
        if (typeof(TSource) == typeof(T)) return new(Vector512.LoadUnsafe(ref Unsafe.As<TSource, T>(ref at)));
        if (HalfConversion.IsSixteenBit<TSource>())
        {
            // Eight 16-bit values are 16 bytes: widened to float in a Vector256, then to double.
            Vector256<uint> eight = Vector256.WidenLower(Vector128.LoadUnsafe(ref Unsafe.As<TSource, ushort>(ref at)).ToVector256Unsafe());
            return new(Vector512.WidenLower(HalfConversion.ToSingle<TSource>(eight).ToVector512Unsafe()).As<double, T>());
        }

        return new(Vector512.WidenLower(Vector256.LoadUnsafe(ref Unsafe.As<TSource, float>(ref at)).ToVector512Unsafe()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        value.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)index);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void StoreNonTemporal(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        T* at = (T*)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetReference(destination), index));
        Debug.Assert((nuint)at % (nuint)sizeof(Vector512<T>) == 0);
        value.StoreAlignedNonTemporal(at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> FusedMultiplyAdd(Lanes512<T> a, Lanes512<T> b, Lanes512<T> c) =>
        typeof(T) == typeof(float)
            ? new(Vector512.FusedMultiplyAdd(a.value.AsSingle(), b.value.AsSingle(), c.value.AsSingle()).As<float, T>())
            : new(Vector512.FusedMultiplyAdd(a.value.AsDouble(), b.value.AsDouble(), c.value.AsDouble()).As<double, T>());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldLanes(Lanes512<T> value) => Lanes256<T>.FoldLanes(new(value.value.GetLower() + value.value.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> LanesBelow(int count) => new(Vector512.LessThan(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(count))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Keep(Lanes512<T> value, Lanes512<T> mask) => new(value.value & mask.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> operator +(Lanes512<T> a, Lanes512<T> b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> operator -(Lanes512<T> a, Lanes512<T> b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> operator *(Lanes512<T> a, Lanes512<T> b) => new(a.value * b.value);
}

/// <summary>One Vector256: 8 float or 4 double lanes.</summary>
internal readonly struct Lanes256<T>(Vector256<T> value) : ILanes<Lanes256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector256<T> value = value;

    public static int Count => Vector256<T>.Count;

    public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Create(T value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged
    {
        Debug.Assert(Spans.Loads<TSource, T>() && Spans.Inside(index, Count, source.Length));
        ref TSource at = ref Unsafe.Add(ref MemoryMarshal.GetReference(source), index);
        if (typeof(TSource) == typeof(T)) return new(Vector256.LoadUnsafe(ref Unsafe.As<TSource, T>(ref at)));
        if (HalfConversion.IsSixteenBit<TSource>())
        {
            // Four 16-bit values are 8 bytes: read exactly those, widened to float in a Vector128, then to double.
            Vector128<ushort> four = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<TSource, byte>(ref at))).AsUInt16();
            return new(Vector256.WidenLower(HalfConversion.ToSingle<TSource>(Vector128.WidenLower(four)).ToVector256Unsafe()).As<double, T>());
        }

        return new(Vector256.WidenLower(Vector128.LoadUnsafe(ref Unsafe.As<TSource, float>(ref at)).ToVector256Unsafe()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        value.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)index);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void StoreNonTemporal(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        T* at = (T*)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetReference(destination), index));
        Debug.Assert((nuint)at % (nuint)sizeof(Vector256<T>) == 0);
        value.StoreAlignedNonTemporal(at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> FusedMultiplyAdd(Lanes256<T> a, Lanes256<T> b, Lanes256<T> c) =>
        typeof(T) == typeof(float)
            ? new(Vector256.FusedMultiplyAdd(a.value.AsSingle(), b.value.AsSingle(), c.value.AsSingle()).As<float, T>())
            : new(Vector256.FusedMultiplyAdd(a.value.AsDouble(), b.value.AsDouble(), c.value.AsDouble()).As<double, T>());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldLanes(Lanes256<T> value) => Lanes128<T>.FoldLanes(new(value.value.GetLower() + value.value.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> LanesBelow(int count) => new(Vector256.LessThan(Vector256<T>.Indices, Vector256.Create(T.CreateTruncating(count))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Keep(Lanes256<T> value, Lanes256<T> mask) => new(value.value & mask.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> operator +(Lanes256<T> a, Lanes256<T> b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> operator -(Lanes256<T> a, Lanes256<T> b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> operator *(Lanes256<T> a, Lanes256<T> b) => new(a.value * b.value);
}

/// <summary>One Vector128: 4 float or 2 double lanes (SSE, or Arm's AdvSimd).</summary>
internal readonly struct Lanes128<T>(Vector128<T> value) : ILanes<Lanes128<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Vector128<T> value = value;

    public static int Count => Vector128<T>.Count;

    public static bool IsHardwareAccelerated => Vector128.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Create(T value) => new(Vector128.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged
    {
        Debug.Assert(Spans.Loads<TSource, T>() && Spans.Inside(index, Count, source.Length));
        ref TSource at = ref Unsafe.Add(ref MemoryMarshal.GetReference(source), index);
        if (typeof(TSource) == typeof(T)) return new(Vector128.LoadUnsafe(ref Unsafe.As<TSource, T>(ref at)));
        if (HalfConversion.IsSixteenBit<TSource>())
        {
            // Two 16-bit values are 4 bytes: read exactly those (the other lanes are converted and dropped).
            Vector128<ushort> two16 = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<int>(ref Unsafe.As<TSource, byte>(ref at))).AsUInt16();
            return new(Vector128.WidenLower(HalfConversion.ToSingle<TSource>(Vector128.WidenLower(two16))).As<double, T>());
        }

        // Two floats are 8 bytes: read exactly those (a 16-byte load would read past the two values).
        Vector128<float> two = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<TSource, byte>(ref at))).AsSingle();
        return new(Vector128.WidenLower(two).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        value.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)index);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void StoreNonTemporal(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        T* at = (T*)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetReference(destination), index));
        Debug.Assert((nuint)at % (nuint)sizeof(Vector128<T>) == 0);
        value.StoreAlignedNonTemporal(at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> FusedMultiplyAdd(Lanes128<T> a, Lanes128<T> b, Lanes128<T> c) =>
        typeof(T) == typeof(float)
            ? new(Vector128.FusedMultiplyAdd(a.value.AsSingle(), b.value.AsSingle(), c.value.AsSingle()).As<float, T>())
            : new(Vector128.FusedMultiplyAdd(a.value.AsDouble(), b.value.AsDouble(), c.value.AsDouble()).As<double, T>());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldLanes(Lanes128<T> value)
    {
        Vector128<T> v = value.value;
        if (Vector128<T>.Count == 2) return v.GetElement(0) + v.GetElement(1);
        return (v.GetElement(0) + v.GetElement(2)) + (v.GetElement(1) + v.GetElement(3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> LanesBelow(int count) => new(Vector128.LessThan(Vector128<T>.Indices, Vector128.Create(T.CreateTruncating(count))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Keep(Lanes128<T> value, Lanes128<T> mask) => new(value.value & mask.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> operator +(Lanes128<T> a, Lanes128<T> b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> operator -(Lanes128<T> a, Lanes128<T> b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> operator *(Lanes128<T> a, Lanes128<T> b) => new(a.value * b.value);
}

/// <summary>One lane in a T: the scalar path, and the model the vector widths reproduce.</summary>
internal readonly struct ScalarLane<T>(T value) : ILanes<ScalarLane<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The lane's value.</summary>
    public T Value { get; } = value;

    public static int Count => 1;

    public static bool IsHardwareAccelerated => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Create(T value) => new(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged
    {
        Debug.Assert(Spans.Loads<TSource, T>() && Spans.Inside(index, Count, source.Length));
        TSource at = Unsafe.Add(ref MemoryMarshal.GetReference(source), index);
        if (typeof(TSource) == typeof(T)) return new(Unsafe.As<TSource, T>(ref at));
        return new(T.CreateTruncating(HalfConversion.ToSingle(at)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index)
    {
        Debug.Assert(Spans.Inside(index, Count, destination.Length));
        Unsafe.Add(ref MemoryMarshal.GetReference(destination), index) = Value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StoreNonTemporal(Span<T> destination, int index) => Store(destination, index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> FusedMultiplyAdd(ScalarLane<T> a, ScalarLane<T> b, ScalarLane<T> c) => new(T.FusedMultiplyAdd(a.Value, b.Value, c.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldLanes(ScalarLane<T> value) => value.Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> LanesBelow(int count) => new(count > 0 ? AllBitsSet : T.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Keep(ScalarLane<T> value, ScalarLane<T> mask) =>
        typeof(T) == typeof(double)
            ? new(Unsafe.BitCast<long, T>(Unsafe.BitCast<T, long>(value.Value) & Unsafe.BitCast<T, long>(mask.Value)))
            : new(Unsafe.BitCast<int, T>(Unsafe.BitCast<T, int>(value.Value) & Unsafe.BitCast<T, int>(mask.Value)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator +(ScalarLane<T> a, ScalarLane<T> b) => new(a.Value + b.Value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator -(ScalarLane<T> a, ScalarLane<T> b) => new(a.Value - b.Value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator *(ScalarLane<T> a, ScalarLane<T> b) => new(a.Value * b.Value);

    private static T AllBitsSet => typeof(T) == typeof(double) ? Unsafe.BitCast<long, T>(-1L) : Unsafe.BitCast<int, T>(-1);
}

/// <summary>
/// Four registers of lanes side by side (lanes 0..n-1 in the first, n..2n-1 in the second, ...): a kernel's unrolled
/// block, four independent chains of additions in flight. Folds as one register of 4n lanes would: the first and third
/// registers add, the second and fourth, then those two, then the register's lanes by halves.
/// </summary>
internal readonly struct Quad<TLanes, T>(TLanes first, TLanes second, TLanes third, TLanes fourth) : ILanes<Quad<TLanes, T>, T>
    where TLanes : struct, ILanes<TLanes, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TLanes first = first, second = second, third = third, fourth = fourth;

    public static int Count => 4 * TLanes.Count;

    public static bool IsHardwareAccelerated => TLanes.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> Create(T value)
    {
        TLanes lanes = TLanes.Create(value);
        return new(lanes, lanes, lanes, lanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged =>
        new(TLanes.Load(source, index), TLanes.Load(source, index + TLanes.Count),
            TLanes.Load(source, index + 2 * TLanes.Count), TLanes.Load(source, index + 3 * TLanes.Count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index)
    {
        first.Store(destination, index);
        second.Store(destination, index + TLanes.Count);
        third.Store(destination, index + 2 * TLanes.Count);
        fourth.Store(destination, index + 3 * TLanes.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StoreNonTemporal(Span<T> destination, int index)
    {
        first.StoreNonTemporal(destination, index);
        second.StoreNonTemporal(destination, index + TLanes.Count);
        third.StoreNonTemporal(destination, index + 2 * TLanes.Count);
        fourth.StoreNonTemporal(destination, index + 3 * TLanes.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> FusedMultiplyAdd(Quad<TLanes, T> a, Quad<TLanes, T> b, Quad<TLanes, T> c) =>
        new(TLanes.FusedMultiplyAdd(a.first, b.first, c.first), TLanes.FusedMultiplyAdd(a.second, b.second, c.second),
            TLanes.FusedMultiplyAdd(a.third, b.third, c.third), TLanes.FusedMultiplyAdd(a.fourth, b.fourth, c.fourth));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldLanes(Quad<TLanes, T> value) => TLanes.FoldLanes((value.first + value.third) + (value.second + value.fourth));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> LanesBelow(int count) =>
        new(TLanes.LanesBelow(count), TLanes.LanesBelow(count - TLanes.Count),
            TLanes.LanesBelow(count - 2 * TLanes.Count), TLanes.LanesBelow(count - 3 * TLanes.Count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> Keep(Quad<TLanes, T> value, Quad<TLanes, T> mask) =>
        new(TLanes.Keep(value.first, mask.first), TLanes.Keep(value.second, mask.second),
            TLanes.Keep(value.third, mask.third), TLanes.Keep(value.fourth, mask.fourth));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> operator +(Quad<TLanes, T> a, Quad<TLanes, T> b) =>
        new(a.first + b.first, a.second + b.second, a.third + b.third, a.fourth + b.fourth);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> operator -(Quad<TLanes, T> a, Quad<TLanes, T> b) =>
        new(a.first - b.first, a.second - b.second, a.third - b.third, a.fourth - b.fourth);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Quad<TLanes, T> operator *(Quad<TLanes, T> a, Quad<TLanes, T> b) =>
        new(a.first * b.first, a.second * b.second, a.third * b.third, a.fourth * b.fourth);
}

/// <summary>
/// Two registers of lanes side by side (lanes 0..n-1 in the first, n..2n-1 in the second): a block of 2n lanes that
/// folds as one register of 2n lanes would: the two registers add, then the register's lanes fold by halves.
/// </summary>
internal readonly struct Pair<TLanes, T>(TLanes low, TLanes high) : ILanes<Pair<TLanes, T>, T>
    where TLanes : struct, ILanes<TLanes, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TLanes low = low, high = high;

    public static int Count => 2 * TLanes.Count;

    public static bool IsHardwareAccelerated => TLanes.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> Create(T value)
    {
        TLanes lanes = TLanes.Create(value);
        return new(lanes, lanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> Load<TSource>(ReadOnlySpan<TSource> source, int index) where TSource : unmanaged =>
        new(TLanes.Load(source, index), TLanes.Load(source, index + TLanes.Count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index)
    {
        low.Store(destination, index);
        high.Store(destination, index + TLanes.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StoreNonTemporal(Span<T> destination, int index)
    {
        low.StoreNonTemporal(destination, index);
        high.StoreNonTemporal(destination, index + TLanes.Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> FusedMultiplyAdd(Pair<TLanes, T> a, Pair<TLanes, T> b, Pair<TLanes, T> c) =>
        new(TLanes.FusedMultiplyAdd(a.low, b.low, c.low), TLanes.FusedMultiplyAdd(a.high, b.high, c.high));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FoldLanes(Pair<TLanes, T> value) => TLanes.FoldLanes(value.low + value.high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> LanesBelow(int count) => new(TLanes.LanesBelow(count), TLanes.LanesBelow(count - TLanes.Count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> Keep(Pair<TLanes, T> value, Pair<TLanes, T> mask) =>
        new(TLanes.Keep(value.low, mask.low), TLanes.Keep(value.high, mask.high));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> operator +(Pair<TLanes, T> a, Pair<TLanes, T> b) => new(a.low + b.low, a.high + b.high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> operator -(Pair<TLanes, T> a, Pair<TLanes, T> b) => new(a.low - b.low, a.high - b.high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Pair<TLanes, T> operator *(Pair<TLanes, T> a, Pair<TLanes, T> b) => new(a.low * b.low, a.high * b.high);
}
