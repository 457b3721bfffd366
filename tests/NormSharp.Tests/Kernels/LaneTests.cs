using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// Each lane type at each width, called directly (a width the machine does not accelerate runs in software), against
/// one scalar lane per element: loads (float widened to double lanes), stores, arithmetic with one rounding, the fold by
/// halves, and masks. The kernels rely on exactly these properties for their bits to agree across widths.
/// </summary>
public class LaneTests
{
    [Fact]
    public void DoubleLanes_AtEveryWidth_ActLaneByLaneAsScalars()
    {
        Check<Lanes512<double>, double>();
        Check<Lanes256<double>, double>();
        Check<Lanes128<double>, double>();
        Check<ScalarLane<double>, double>();
        Check<Quad<Lanes512<double>, double>, double>();
        Check<Pair<Lanes512<double>, double>, double>();
        Check<Pair<Lanes128<double>, double>, double>();
        Check<Quad<Lanes128<double>, double>, double>();
        Check<Quad<ScalarLane<double>, double>, double>();
    }

    [Fact]
    public void FloatLanes_AtEveryWidth_ActLaneByLaneAsScalars()
    {
        Check<Lanes512<float>, float>();
        Check<Lanes256<float>, float>();
        Check<Lanes128<float>, float>();
        Check<ScalarLane<float>, float>();
        Check<Quad<Lanes256<float>, float>, float>();
        Check<Pair<Lanes512<float>, float>, float>();
    }

    [Fact]
    public void DoubleLanes_AtEveryWidth_LoadFloatsWidened_ReadingOnlyTheirOwn()
    {
        CheckWidening<Lanes512<double>>();
        CheckWidening<Lanes256<double>>();
        CheckWidening<Lanes128<double>>();
        CheckWidening<ScalarLane<double>>();
        CheckWidening<Quad<Lanes128<double>, double>>();
        CheckWidening<Pair<Lanes512<double>, double>>();

        static void CheckWidening<TLanes>() where TLanes : struct, ILanes<TLanes, double>
        {
            float[] values = Values<float>(TLanes.Count + 5, TLanes.Count, 1e3);
            var stored = new double[TLanes.Count];
            for (int at = 0; at <= 5; at++)
            {
                // A span that ends with the lanes: a load past it would fail the lanes' own bounds check.
                TLanes.Load<float>(values.AsSpan(0, at + TLanes.Count), at).Store(stored, 0);
                AssertSameBits<double>(Widened(values[at..(at + TLanes.Count)]), stored, $"{typeof(TLanes).Name} from {at}");
            }
        }
    }

    private static void Check<TLanes, T>() where TLanes : struct, ILanes<TLanes, T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = TLanes.Count;
        string name = $"{typeof(TLanes).Name} of {typeof(T).Name}";
        // Magnitudes from 1e-3 to 1e3 and both signs, so that another order of additions gives other bits.
        var random = new Random(count);
        T[] a = Enumerable.Range(0, count).Select(_ => T.CreateTruncating((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 4)))).ToArray();
        T[] b = Values<T>(count, count + 1), c = Values<T>(count, count + 2);
        TLanes la = TLanes.Load<T>(a, 0), lb = TLanes.Load<T>(b, 0), lc = TLanes.Load<T>(c, 0);
        var result = new T[count];

        (la + lb).Store(result, 0);
        AssertSameBits<T>(a.Select((v, i) => v + b[i]).ToArray(), result, $"{name}: +");
        (la - lb).Store(result, 0);
        AssertSameBits<T>(a.Select((v, i) => v - b[i]).ToArray(), result, $"{name}: -");
        (la * lb).Store(result, 0);
        AssertSameBits<T>(a.Select((v, i) => v * b[i]).ToArray(), result, $"{name}: *");
        TLanes.FusedMultiplyAdd(la, lb, lc).Store(result, 0);
        AssertSameBits<T>(a.Select((v, i) => T.FusedMultiplyAdd(v, b[i], c[i])).ToArray(), result, $"{name}: fused multiply-add");
        TLanes.Create(a[0]).Store(result, 0);
        AssertSameBits<T>(Enumerable.Repeat(a[0], count).ToArray(), result, $"{name}: create");

        // lane i += lane i + w for w = count/2, ..., 1
        T[] lanes = (T[])a.Clone();
        for (int w = count / 2; w >= 1; w /= 2)
            for (int i = 0; i < w; i++) lanes[i] += lanes[i + w];
        AssertSameBits(lanes[0], TLanes.FoldLanes(la), $"{name}: fold by halves");

        // Masked lanes are +0, whatever they held (NaN and -0 included).
        T[] special = a.Select((v, i) => (i % 3) switch { 0 => T.NaN, 1 => T.NegativeZero, _ => v }).ToArray();
        for (int below = -1; below <= count + 1; below++)
        {
            TLanes.Keep(TLanes.Load<T>(special, 0), TLanes.LanesBelow(below)).Store(result, 0);
            AssertSameBits<T>(special.Select((v, i) => i < below ? v : T.Zero).ToArray(), result, $"{name}: lanes below {below}");
        }
    }
}
