using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NormSharp.Kernels;

/// <summary>
/// One register of double accumulator lanes, so that a statistics kernel is written once over
/// <see cref="Lanes512"/>, <see cref="Lanes256"/> or <see cref="ScalarLane"/> (the scalar path). Every operation
/// is lane by lane with one IEEE rounding: a kernel gives the same bits at every width as long as each lane sees the
/// same values in the same order.
/// </summary>
/// <typeparam name="TSelf">The implementing struct (one field, which the JIT keeps in a register).</typeparam>
internal interface IAccumulatorLanes<TSelf> :
    IAdditionOperators<TSelf, TSelf, TSelf>, ISubtractionOperators<TSelf, TSelf, TSelf>,
    IMultiplyOperators<TSelf, TSelf, TSelf>, IDivisionOperators<TSelf, TSelf, TSelf>
    where TSelf : struct, IAccumulatorLanes<TSelf>
{
    /// <summary>Lanes in the register.</summary>
    static abstract int Count { get; }

    /// <summary>Whether this width runs on this machine.</summary>
    static abstract bool IsHardwareAccelerated { get; }

    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TSelf Create(double value);

    /// <summary><see cref="Count"/> consecutive float or double values from <paramref name="source"/>, widened to double.</summary>
    static abstract TSelf Load<T>(ref T source) where T : unmanaged;

    /// <summary>Writes the lanes to <see cref="Count"/> consecutive doubles.</summary>
    void Store(ref double destination);

    /// <summary>a·b + c in each lane, with one rounding.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>Folds the lanes by halves (lane i += lane i + Count/2, then + Count/4, ... + 1) and returns lane 0.</summary>
    static abstract double FoldLanes(TSelf value);

    /// <summary>A mask of the lanes below <paramref name="count"/> (all bits set), the others 0: for <see cref="Keep"/>.</summary>
    static abstract TSelf LanesBelow(int count);

    /// <summary>The lanes of <paramref name="value"/> that <paramref name="mask"/> selects, the others +0.</summary>
    static abstract TSelf Keep(TSelf value, TSelf mask);
}

/// <summary>8 lanes in a Vector512.</summary>
internal readonly struct Lanes512(Vector512<double> value) : IAccumulatorLanes<Lanes512>
{
    private readonly Vector512<double> value = value;

    public static int Count => 8;

    public static bool IsHardwareAccelerated => Vector512.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 Create(double value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 Load<T>(ref T source) where T : unmanaged =>
        new(typeof(T) == typeof(float)
            ? Vector512.WidenLower(Vector256.LoadUnsafe(ref Unsafe.As<T, float>(ref source)).ToVector512Unsafe())
            : Vector512.LoadUnsafe(ref Unsafe.As<T, double>(ref source)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref double destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 FusedMultiplyAdd(Lanes512 a, Lanes512 b, Lanes512 c) => new(Vector512.FusedMultiplyAdd(a.value, b.value, c.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double FoldLanes(Lanes512 value) => Lanes256.FoldLanes(new(value.value.GetLower() + value.value.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 LanesBelow(int count) => new(Vector512.LessThan(Vector512.Create(0.0, 1, 2, 3, 4, 5, 6, 7), Vector512.Create((double)count)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 Keep(Lanes512 value, Lanes512 mask) => new(value.value & mask.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator +(Lanes512 a, Lanes512 b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator -(Lanes512 a, Lanes512 b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator *(Lanes512 a, Lanes512 b) => new(a.value * b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512 operator /(Lanes512 a, Lanes512 b) => new(a.value / b.value);
}

/// <summary>4 lanes in a Vector256.</summary>
internal readonly struct Lanes256(Vector256<double> value) : IAccumulatorLanes<Lanes256>
{
    private readonly Vector256<double> value = value;

    public static int Count => 4;

    public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 Create(double value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 Load<T>(ref T source) where T : unmanaged =>
        new(typeof(T) == typeof(float)
            ? Vector256.WidenLower(Vector128.LoadUnsafe(ref Unsafe.As<T, float>(ref source)).ToVector256Unsafe())
            : Vector256.LoadUnsafe(ref Unsafe.As<T, double>(ref source)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref double destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 FusedMultiplyAdd(Lanes256 a, Lanes256 b, Lanes256 c) => new(Vector256.FusedMultiplyAdd(a.value, b.value, c.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double FoldLanes(Lanes256 value)
    {
        Vector128<double> half = value.value.GetLower() + value.value.GetUpper();
        return half.GetElement(0) + half.GetElement(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 LanesBelow(int count) => new(Vector256.LessThan(Vector256.Create(0.0, 1, 2, 3), Vector256.Create((double)count)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 Keep(Lanes256 value, Lanes256 mask) => new(value.value & mask.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator +(Lanes256 a, Lanes256 b) => new(a.value + b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator -(Lanes256 a, Lanes256 b) => new(a.value - b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator *(Lanes256 a, Lanes256 b) => new(a.value * b.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256 operator /(Lanes256 a, Lanes256 b) => new(a.value / b.value);
}

/// <summary>One lane in a double: the scalar path, and the model the vector paths reproduce.</summary>
internal readonly struct ScalarLane(double value) : IAccumulatorLanes<ScalarLane>
{
    /// <summary>The lane's value.</summary>
    public double Value { get; } = value;

    public static int Count => 1;

    public static bool IsHardwareAccelerated => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane Create(double value) => new(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane Load<T>(ref T source) where T : unmanaged =>
        new(typeof(T) == typeof(float) ? Unsafe.As<T, float>(ref source) : Unsafe.As<T, double>(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ref double destination) => destination = Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane FusedMultiplyAdd(ScalarLane a, ScalarLane b, ScalarLane c) => new(Math.FusedMultiplyAdd(a.Value, b.Value, c.Value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double FoldLanes(ScalarLane value) => value.Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane LanesBelow(int count) => new(BitConverter.Int64BitsToDouble(count > 0 ? -1L : 0L));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane Keep(ScalarLane value, ScalarLane mask) =>
        new(BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(value.Value) & BitConverter.DoubleToInt64Bits(mask.Value)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane operator +(ScalarLane a, ScalarLane b) => new(a.Value + b.Value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane operator -(ScalarLane a, ScalarLane b) => new(a.Value - b.Value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane operator *(ScalarLane a, ScalarLane b) => new(a.Value * b.Value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane operator /(ScalarLane a, ScalarLane b) => new(a.Value / b.Value);
}
