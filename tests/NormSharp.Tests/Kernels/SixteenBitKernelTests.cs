using System.Runtime.InteropServices;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// The 16-bit storage types of mixed precision in the kernels: the float16 and bfloat16 conversions
/// (<see cref="HalfConversion"/>) against .NET's and PyTorch's rounding, the lanes' widening loads, and the reductions over
/// 16-bit values against the same reductions over the widened floats, bit for bit. .ci/run repeats these tests on each
/// instruction-set path, so every width must give the scalar model's bits, NaNs included.
/// </summary>
public sealed class SixteenBitKernelTests : IDisposable
{
    private readonly GuardedMemory[] memory = Enumerable.Range(0, 3).Select(_ => new GuardedMemory()).ToArray();

    public void Dispose()
    {
        foreach (GuardedMemory m in memory) m.Dispose();
    }

    private static ushort[] EveryPattern => Enumerable.Range(0, 1 << 16).Select(i => (ushort)i).ToArray();

    [Fact]
    public void Float16ToSingle_EveryBitPattern_IsDotNetsExactValue_OnEveryPath()
    {
        ushort[] bits = EveryPattern;
        var widened = new float[bits.Length];
        HalfConversion.Widen<Half>(MemoryMarshal.Cast<ushort, Half>(bits), widened);
        for (int i = 0; i < bits.Length; i++)
        {
            float model = HalfConversion.HalfToSingle(bits[i]), dotnet = (float)BitConverter.UInt16BitsToHalf(bits[i]);
            Assert.True(BitConverter.SingleToUInt32Bits(model) == BitConverter.SingleToUInt32Bits(widened[i]), $"pattern {bits[i]:X4}: span {widened[i]:R}, model {model:R}");
            if (float.IsNaN(dotnet)) Assert.True(float.IsNaN(model) && float.IsNegative(model) == float.IsNegative(dotnet), $"NaN {bits[i]:X4}");
            else Assert.True(BitConverter.SingleToUInt32Bits(model) == BitConverter.SingleToUInt32Bits(dotnet), $"pattern {bits[i]:X4}: {model:R} vs {dotnet:R}");
        }
    }

    [Fact]
    public void BFloat16ToSingle_EveryBitPattern_IsTheUpperHalfOfAFloat_OnEveryPath()
    {
        ushort[] bits = EveryPattern;
        var widened = new float[bits.Length];
        HalfConversion.Widen<BFloat16>(MemoryMarshal.Cast<ushort, BFloat16>(bits), widened);
        for (int i = 0; i < bits.Length; i++)
        {
            uint expected = (uint)bits[i] << 16;
            Assert.Equal(expected, BitConverter.SingleToUInt32Bits(widened[i]));
            Assert.Equal(expected, BitConverter.SingleToUInt32Bits(HalfConversion.BFloat16ToSingle(bits[i])));
            Assert.Equal(expected, BitConverter.SingleToUInt32Bits((float)BFloat16.FromBits(bits[i])));
        }
    }

    /// <summary>Floats around every float16 and bfloat16 value (each value, the ties halfway to its neighbours and one float
    /// ulp either side of them), the ranges' edges, specials, and random bit patterns.</summary>
    private static float[] NarrowingInputs()
    {
        var values = new List<float>();
        foreach (ushort b in EveryPattern)
        {
            foreach (float v in new[] { HalfConversion.HalfToSingle(b), HalfConversion.BFloat16ToSingle(b) })
            {
                if (!float.IsFinite(v)) continue;
                values.Add(v);
                uint u = BitConverter.SingleToUInt32Bits(v);
                foreach (uint step in new uint[] { 1u << 12, 1u << 15 })   // half a float16 ulp (normal), half a bfloat16 ulp
                    foreach (uint tie in new[] { u + step, u - step })
                    {
                        values.Add(BitConverter.UInt32BitsToSingle(tie));
                        values.Add(BitConverter.UInt32BitsToSingle(tie + 1));
                        values.Add(BitConverter.UInt32BitsToSingle(tie - 1));
                    }
            }
        }

        values.AddRange([65504f, 65519.996f, 65520f, 65536f, 1e10f, float.MaxValue, float.Epsilon, 2.98e-8f, 2.9802322e-8f, 5.96e-8f, 6.1035156e-5f,
                         float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN, BitConverter.UInt32BitsToSingle(0x7F800001),
                         BitConverter.UInt32BitsToSingle(0xFFC12345), 0f, -0f]);
        var random = new Random(7);
        for (int i = 0; i < 1 << 18; i++) values.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
        return [.. values.Select(v => v).Concat(values.Select(v => -v))];
    }

    [Fact]
    public void SingleToFloat16_RoundsAsDotNetAndPyTorch_ToNearestTiesToEven_OnEveryPath()
    {
        float[] inputs = NarrowingInputs();
        var narrowed = new Half[inputs.Length];
        HalfConversion.Narrow<Half>(inputs, narrowed);
        for (int i = 0; i < inputs.Length; i++)
        {
            ushort model = HalfConversion.SingleToHalf(inputs[i]), span = BitConverter.HalfToUInt16Bits(narrowed[i]);
            Assert.True(model == span, $"{inputs[i]:R} ({BitConverter.SingleToUInt32Bits(inputs[i]):X8}): span {span:X4}, model {model:X4}");
            if (float.IsNaN(inputs[i]))
                // PyTorch's c10::Half: the quiet NaN 0x7E00 with the input's sign.
                Assert.Equal(float.IsNegative(inputs[i]) ? 0xFE00 : 0x7E00, model);
            else Assert.True(model == BitConverter.HalfToUInt16Bits((Half)inputs[i]), $"{inputs[i]:R}: {model:X4} vs .NET {BitConverter.HalfToUInt16Bits((Half)inputs[i]):X4}");
        }
    }

    [Fact]
    public void SingleToBFloat16_RoundsAsPyTorch_ToNearestTiesToEven_OnEveryPath()
    {
        float[] inputs = NarrowingInputs();
        var narrowed = new BFloat16[inputs.Length];
        HalfConversion.Narrow<BFloat16>(inputs, narrowed);
        for (int i = 0; i < inputs.Length; i++)
        {
            ushort model = HalfConversion.SingleToBFloat16(inputs[i]);
            Assert.True(model == narrowed[i].ToBits(), $"{inputs[i]:R}: span {narrowed[i].ToBits():X4}, model {model:X4}");
            Assert.Equal(BFloat16.FromSingle(inputs[i]), model);
            Assert.Equal(model, ((BFloat16)inputs[i]).ToBits());
            if (!float.IsFinite(inputs[i])) continue;
            // The nearest of the two neighbouring bfloat16 values, the even one on a tie (computed in double, exactly).
            uint u = BitConverter.SingleToUInt32Bits(inputs[i]);
            // Past the largest bfloat16 the next step up is 2^128 (the exponent unbounded): rounding up there overflows to Inf.
            double down = BitConverter.UInt32BitsToSingle(u & 0xFFFF0000), up = BitConverter.UInt32BitsToSingle((u & 0xFFFF0000) + 0x10000);
            if (double.IsInfinity(up)) up = Math.CopySign(Math.Pow(2, 128), inputs[i]);
            double distanceDown = Math.Abs(inputs[i] - down), distanceUp = Math.Abs(up - inputs[i]);
            uint expected = distanceDown < distanceUp || (distanceDown == distanceUp && ((u >> 16) & 1) == 0) ? u >> 16 : (u >> 16) + 1;
            Assert.True(expected == model, $"{inputs[i]:R}: {model:X4}, expected {expected:X4}");
        }
    }

    [Fact]
    public void Conversions_OfEveryLength_MatchTheScalarModel()
    {
        foreach (int length in Lengths)
        {
            float[] values = Values<float>(length, length, 1e3).Select((v, i) => i % 17 == 3 ? float.NaN : i % 13 == 5 ? 1e6f : v).ToArray();
            var halves = new Half[length];
            var bfloats = new BFloat16[length];
            var back = new float[length];
            HalfConversion.Narrow<Half>(values, halves);
            HalfConversion.Narrow<BFloat16>(values, bfloats);
            for (int i = 0; i < length; i++)
            {
                Assert.Equal(HalfConversion.SingleToHalf(values[i]), BitConverter.HalfToUInt16Bits(halves[i]));
                Assert.Equal(HalfConversion.SingleToBFloat16(values[i]), bfloats[i].ToBits());
            }

            HalfConversion.Widen<Half>(halves, back);
            for (int i = 0; i < length; i++) Assert.Equal(BitConverter.SingleToUInt32Bits(HalfConversion.HalfToSingle(BitConverter.HalfToUInt16Bits(halves[i]))), BitConverter.SingleToUInt32Bits(back[i]));
            HalfConversion.Widen<BFloat16>(bfloats, back);
            for (int i = 0; i < length; i++) Assert.Equal((uint)bfloats[i].ToBits() << 16, BitConverter.SingleToUInt32Bits(back[i]));
            HalfConversion.Widen<float>(values, back);
            AssertSameBits<float>(values, back, $"float copy, length {length}");
        }
    }

    [Fact]
    public void DoubleLanes_AtEveryWidth_LoadSixteenBitValuesWidened()
    {
        Check<Lanes512<double>>();
        Check<Lanes256<double>>();
        Check<Lanes128<double>>();
        Check<ScalarLane<double>>();
        Check<Quad<Lanes128<double>, double>>();
        Check<Pair<Lanes512<double>, double>>();

        static void Check<TLanes>() where TLanes : struct, ILanes<TLanes, double>
        {
            ushort[] bits = EveryPattern;
            var stored = new double[TLanes.Count];
            for (int at = 0; at + TLanes.Count <= bits.Length; at += TLanes.Count + 1)
            {
                // A span that ends with the lanes: a load past it would fail the lanes' own bounds check.
                TLanes.Load<Half>(MemoryMarshal.Cast<ushort, Half>(bits.AsSpan(0, at + TLanes.Count)), at).Store(stored, 0);
                for (int i = 0; i < TLanes.Count; i++)
                    AssertSameBits((double)HalfConversion.HalfToSingle(bits[at + i]), stored[i], $"{typeof(TLanes).Name} float16 {bits[at + i]:X4}");
                TLanes.Load<BFloat16>(MemoryMarshal.Cast<ushort, BFloat16>(bits.AsSpan(0, at + TLanes.Count)), at).Store(stored, 0);
                for (int i = 0; i < TLanes.Count; i++)
                    AssertSameBits((double)HalfConversion.BFloat16ToSingle(bits[at + i]), stored[i], $"{typeof(TLanes).Name} bfloat16 {bits[at + i]:X4}");
            }
        }
    }

    [Fact]
    public void Reductions_OverSixteenBitValues_AreTheFloatReductionsOfTheWidenedValues()
    {
        Check<Half>();
        Check<BFloat16>();

        static void Check<TStorage>() where TStorage : unmanaged
        {
            string name = typeof(TStorage).Name;
            foreach (int length in Lengths.Skip(1))
            {
                (TStorage[] x, float[] xf) = Stored<TStorage>(length, length, 30);
                (TStorage[] dy, float[] dyf) = Stored<TStorage>(length, length + 1, 0);
                AssertSameMoments(ShiftedMoments.ReduceRuns<float>(xf, 1, length, length), ShiftedMoments.ReduceRuns<TStorage>(x, 1, length, length),
                                  $"{name}, length {length}");
                AssertSamePair(BatchNormBackward.ReduceRuns<float>(xf, dyf, 1, length, length, 30.25),
                               BatchNormBackward.ReduceRuns<TStorage>(x, dy, 1, length, length, 30.25), $"{name}, length {length}");
            }

            foreach (int length in new[] { 1, 7, 33, 196, 3000 })
            {
                int runs = length < 100 ? 2048 / length + 3 : 3, stride = length + 5, span = (runs - 1) * stride + length;
                (TStorage[] x, float[] xf) = Stored<TStorage>(span, length, -4);
                (TStorage[] dy, float[] dyf) = Stored<TStorage>(span, length + 1, 0);
                AssertSameMoments(ShiftedMoments.ReduceRuns<float>(xf, runs, stride, length), ShiftedMoments.ReduceRuns<TStorage>(x, runs, stride, length),
                                  $"{name}, {runs} runs of {length}");
                AssertSamePair(BatchNormBackward.ReduceRuns<float>(xf, dyf, runs, stride, length, -3.5),
                               BatchNormBackward.ReduceRuns<TStorage>(x, dy, runs, stride, length, -3.5), $"{name}, {runs} runs of {length}");
            }

            foreach (int channels in ChannelCounts.Where(c => c % 7 == 1 || c < 40))
            {
                const int rows = 37;
                (TStorage[] x, float[] xf) = Stored<TStorage>(rows * channels, channels, 2);
                (TStorage[] dy, float[] dyf) = Stored<TStorage>(rows * channels, channels + 1, 0);
                double[] expected = new double[4 * channels], actual = new double[4 * channels];
                ShiftedMoments.ReduceRows<float>(xf, rows, Spans(expected, channels));
                ShiftedMoments.ReduceRows<TStorage>(x, rows, Spans(actual, channels));
                AssertSameBits<double>(expected, actual, $"{name}, rows of {channels}");
                double[] mean = Values<double>(channels, channels, 2);
                double[] expectedSums = new double[2 * channels], actualSums = new double[2 * channels];
                BatchNormBackward.ReduceRows<float>(xf, dyf, rows, mean, expectedSums.AsSpan(0, channels), expectedSums.AsSpan(channels));
                BatchNormBackward.ReduceRows<TStorage>(x, dy, rows, mean, actualSums.AsSpan(0, channels), actualSums.AsSpan(channels));
                AssertSameBits<double>(expectedSums, actualSums, $"{name}, backward rows of {channels}");
            }
        }
    }

    [LinuxFact]
    public void SixteenBitLoadsAndConversions_StayInsideTheirSpans()
    {
        Check<Half>();
        Check<BFloat16>();

        void Check<TStorage>() where TStorage : unmanaged
        {
            foreach (bool atStart in new[] { false, true })
                for (int n = 1; n <= 130; n++)
                {
                    string context = $"{typeof(TStorage).Name}, length {n}, {(atStart ? "after" : "before")} a guard";
                    (TStorage[] values, float[] widened) = Stored<TStorage>(3 * n, n, 2);
                    Span<TStorage> x = memory[0].Place<TStorage>(n, atStart, values), dy = memory[1].Place<TStorage>(n, atStart, values);
                    AssertSameMoments(ShiftedMoments.ReduceRuns<float>(widened.AsSpan(0, n), 1, n, n), ShiftedMoments.ReduceRuns<TStorage>(x, 1, n, n), context);
                    AssertSamePair(BatchNormBackward.ReduceRuns<float>(widened.AsSpan(0, n), widened.AsSpan(0, n), 1, n, n, 1.5),
                                   BatchNormBackward.ReduceRuns<TStorage>(x, dy, 1, n, n, 1.5), context);
                    x = memory[0].Place<TStorage>(3 * n, atStart, values);
                    dy = memory[1].Place<TStorage>(3 * n, atStart, values);
                    double[] expected = new double[4 * n], actual = new double[4 * n];
                    ShiftedMoments.ReduceRows<float>(widened, 3, Spans(expected, n));
                    ShiftedMoments.ReduceRows<TStorage>(x, 3, Spans(actual, n));
                    AssertSameBits<double>(expected, actual, $"{context}, rows");
                    double[] mean = Values<double>(n, n, 2), sums = new double[2 * n];
                    BatchNormBackward.ReduceRows<TStorage>(x, dy, 3, mean, sums.AsSpan(0, n), sums.AsSpan(n));

                    Span<float> floats = memory[2].Place<float>(n, atStart);
                    HalfConversion.Widen<TStorage>(memory[0].Place<TStorage>(n, atStart, values), floats);
                    AssertSameBits<float>(widened.AsSpan(0, n), floats, $"{context}, widen");
                    Span<TStorage> narrowed = memory[1].Place<TStorage>(n, atStart);
                    HalfConversion.Narrow<TStorage>(memory[2].Place<float>(n, atStart, widened), narrowed);
                    Assert.True(MemoryMarshal.AsBytes(narrowed).SequenceEqual(MemoryMarshal.AsBytes(values.AsSpan(0, n))), $"{context}, narrow");
                }
        }
    }

    /// <summary>Seeded values around <paramref name="offset"/> in a 16-bit type, and the same values as floats (exactly).</summary>
    private static (TStorage[] Stored, float[] Widened) Stored<TStorage>(int length, int seed, double offset) where TStorage : unmanaged
    {
        float[] floats = Values<float>(length, seed, offset);
        var stored = new TStorage[length];
        HalfConversion.Narrow<TStorage>(floats, stored);
        HalfConversion.Widen<TStorage>(stored, floats);
        return (stored, floats);
    }

    private static MomentSpans Spans(double[] values, int length) =>
        new(values.AsSpan(0, length), values.AsSpan(length, length), values.AsSpan(2 * length, length), values.AsSpan(3 * length, length));

    private static void AssertSameMoments(Moments expected, Moments actual, string context)
    {
        AssertSameBits(expected.Sum, actual.Sum, $"{context}, Σx");
        AssertSameBits(expected.MeanHigh, actual.MeanHigh, $"{context}, mean (high)");
        AssertSameBits(expected.MeanLow, actual.MeanLow, $"{context}, mean (low)");
        AssertSameBits(expected.M2, actual.M2, $"{context}, M2");
    }

    private static void AssertSamePair((double, double) expected, (double, double) actual, string context)
    {
        AssertSameBits(expected.Item1, actual.Item1, $"{context}, Σdy");
        AssertSameBits(expected.Item2, actual.Item2, $"{context}, Σ(x - mean)·dy");
    }
}
