using System.Runtime.InteropServices;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 10 (mixed precision; docs/decisions.md, "Mixed precision"): a float32 layer or functional op
/// with a float16 or bfloat16 input is the float32 call on the input's exact values, its outputs rounded once to the
/// input's type, its decision, buffers, counter, checks, messages and parameter gradients those of the float32 call, bit
/// for bit.
/// </summary>
public class MixedPrecisionTests
{
    public static TheoryData<string, string> Layers()
    {
        var data = new TheoryData<string, string>();
        foreach (string storage in new[] { "Half", "BFloat16" })
            foreach (string layer in new[] { "BatchNorm1d (N, C)", "BatchNorm1d (N, C, L)", "BatchNorm2d", "BatchNorm2d channels-last", "BatchNorm3d",
                                             "BatchNorm2d momentum null", "BatchNorm1d no affine no tracking", "LazyBatchNorm2d", "InstanceNorm1d",
                                             "InstanceNorm1d unbatched", "InstanceNorm2d affine tracking", "InstanceNorm3d tracking", "LazyInstanceNorm2d" })
                data.Add(storage, layer);
        return data;
    }

    private static (NormBase<float> Layer, nint[] Shape, bool ChannelsLast) Create(string layer) => layer switch
    {
        "BatchNorm1d (N, C)" => (new BatchNorm1d(5), [16, 5], false),
        "BatchNorm1d (N, C, L)" => (new BatchNorm1d(3), [4, 3, 70], false),
        "BatchNorm2d" => (new BatchNorm2d(4), [3, 4, 9, 11], false),
        "BatchNorm2d channels-last" => (new BatchNorm2d(6), [2, 6, 5, 7], true),
        "BatchNorm3d" => (new BatchNorm3d(2), [2, 2, 3, 4, 5], false),
        "BatchNorm2d momentum null" => (new BatchNorm2d(3, momentum: null), [2, 3, 30, 30], false),
        "BatchNorm1d no affine no tracking" => (new BatchNorm1d(3, affine: false, trackRunningStats: false), [6, 3, 8], false),
        "LazyBatchNorm2d" => (new LazyBatchNorm2d(), [3, 5, 4, 4], false),
        "InstanceNorm1d" => (new InstanceNorm1d(3), [4, 3, 50], false),
        "InstanceNorm1d unbatched" => (new InstanceNorm1d(3, affine: true, trackRunningStats: true), [3, 40], false),
        "InstanceNorm2d affine tracking" => (new InstanceNorm2d(4, affine: true, trackRunningStats: true), [2, 4, 6, 7], false),
        "InstanceNorm3d tracking" => (new InstanceNorm3d(2, trackRunningStats: true), [3, 2, 2, 3, 4], false),
        _ => (new LazyInstanceNorm2d(affine: true, trackRunningStats: true), [2, 3, 5, 5], false),
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void EveryLayer_MixedForwardAndBackward_AreTheFloatCallsRoundedOnce_WithTheSameStateBitForBit(string storage, string layer)
    {
        if (storage == "Half") Check<Half>(layer);
        else Check<BFloat16>(layer);

        static void Check<TStorage>(string layer) where TStorage : unmanaged
        {
            (NormBase<float> single, nint[] shape, bool channelsLast) = Create(layer);
            NormBase<float> mixed = Create(layer).Layer;
            for (int step = 0; step < 5; step++)
            {
                string context = $"{typeof(TStorage).Name} {layer}, step {step}";
                if (step == 3) { single.Eval(); mixed.Eval(); }
                if (step == 4) { single.Train(); mixed.Train(); single.TrackRunningStats = mixed.TrackRunningStats = false; }
                (Tensor<TStorage> x, Tensor<float> xf) = Input<TStorage>(shape, 10 * step + 1, mean: 3 * step - 4, std: 1 + step, channelsLast);
                ForwardPlan plan = mixed.Explain(shape);
                Assert.Equal(single.Explain(shape).ToString(), plan.ToString());
                // Without any float32 tensor handed to the op, ATen's op is the input type's (its statistics rounded to it):
                // see WithoutFloatTensors_TheStatisticsAreKeptInTheInputType; here within a few of its spacings.
                bool inputTypeStatistics = mixed.Weight is null && (!plan.PassesRunningStatistics || mixed.RunningMean is null);
                Tensor<float> y = single.Forward(xf);
                Tensor<TStorage> yMixed = Mixed.Forward(mixed, x);
                Assert.Equal(channelsLast, ChannelsLast.Is(yMixed));
                if (inputTypeStatistics) AssertNear(y, yMixed, $"{context}: output");
                else AssertRoundedOnce(y, yMixed, $"{context}: output");
                AssertSameState(single, mixed, context);
                Assert.Equal(plan.CounterAfter, mixed.NumBatchesTracked);

                (Tensor<TStorage> dy, Tensor<float> dyf) = Input<TStorage>(shape, 10 * step + 2, 0, 1, channelsLast);
                if (inputTypeStatistics) AssertNear(single.Backward(dyf), Mixed.Backward(mixed, dy), $"{context}: dx");
                else AssertRoundedOnce(single.Backward(dyf), Mixed.Backward(mixed, dy), $"{context}: dx");
                AssertSameState(single, mixed, $"{context}, after backward");
            }
        }
    }

    [Fact]
    public void FailingMixedForward_ThrowsTheFloatForwardsException_AndChangesNothing()
    {
        var cases = new (Func<NormBase<float>> Create, nint[] Shape, nint[]? Good)[]
        {
            (() => new BatchNorm2d(3), [2, 3, 4], [2, 3, 2, 2]),                    // rank
            (() => new BatchNorm2d(3), [2, 4, 3, 3], [2, 3, 2, 2]),                 // channels
            (() => new BatchNorm1d(3), [1, 3], [4, 3]),                             // one value per channel
            (() => new BatchNorm1d(3, eps: 0), [4, 3], null),                       // eps in training
            (() => new InstanceNorm1d(3, affine: true), [2, 4, 5], [2, 3, 5]),      // channels, affine
            (() => new InstanceNorm2d(3), [2, 3, 1, 1], [2, 3, 2, 2]),              // one spatial value
            (() => new LazyBatchNorm1d() { Affine = false }, [4, 3], null),         // flags changed before initialization
        };
        foreach (var (create, shape, good) in cases)
        {
            NormBase<float> single = create(), mixed = create();
            if (good is not null)
            {
                // A forward before the failure: its buffers, and the record Backward uses, must survive the failing call.
                (Tensor<Half> first, Tensor<float> firstFloat) = Input<Half>(good, 1, 0, 1, false);
                single.Forward(firstFloat);
                mixed.Forward(first);
            }

            (Tensor<Half> x, Tensor<float> xf) = Input<Half>(shape, 2, 0, 1, false);
            Exception expected = Record.Exception(() => single.Forward(xf))!;
            Exception actual = Record.Exception(() => mixed.Forward(x))!;
            Assert.NotNull(expected);
            Assert.IsType(expected.GetType(), actual);
            Assert.Equal(expected.Message, actual.Message);
            AssertSameState(single, mixed, $"{mixed.ModuleName} {string.Join(", ", shape)}");
            Assert.Equal(single.HasUninitializedParameters, mixed.HasUninitializedParameters);
            if (good is not null && (mixed.Weight is not null || mixed.RunningMean is not null))
            {
                (Tensor<Half> dy, Tensor<float> dyFloat) = Input<Half>(good, 3, 0, 1, false);
                AssertRoundedOnce(single.Backward(dyFloat), mixed.Backward(dy), $"{mixed.ModuleName}: backward of the forward before the failure");
            }
        }
    }

    [Fact]
    public void EmptyInputs_DoWhatTheFloatCallsDo()
    {
        var cases = new (Func<NormBase<float>> Create, nint[] Shape)[]
        {
            (() => new BatchNorm2d(3), [0, 3, 2, 2]),
            (() => new BatchNorm1d(3), [4, 3, 0]),
            (() => new InstanceNorm1d(3, trackRunningStats: true), [0, 3, 4]),
            (() => new InstanceNorm2d(3, affine: true), [0, 3, 2, 2]),
        };
        foreach (var (create, shape) in cases)
        {
            NormBase<float> single = create(), mixed = create();
            Exception? expected = Record.Exception(() => single.Forward(Tensor.CreateFromShape<float>(shape)));
            Exception? actual = Record.Exception(() => mixed.Forward(Tensor.CreateFromShape<BFloat16>(shape)));
            Assert.Equal(expected?.Message, actual?.Message);
            Assert.Equal(single.NumBatchesTracked, mixed.NumBatchesTracked);
            if (single.RunningMean is not null) Assert.Equal(single.RunningMean.ToArray(), mixed.RunningMean!.ToArray());
        }

        Tensor<Half> empty = Functional.BatchNorm(Tensor.CreateFromShape<Half>([0]), null, null, null, null, training: true);
        Assert.Equal([0], empty.Lengths.ToArray());
    }

    [Fact]
    public void LazyLayer_FirstMixedForward_CreatesFloat32TensorsFromTheInputsChannels()
    {
        var bn = new LazyBatchNorm2d();
        Assert.Equal("LazyBatchNorm2d", bn.ModuleName);
        bn.Forward(Input<BFloat16>([2, 7, 3, 3], 1, 0, 1, false).Stored);
        Assert.Equal(7, bn.NumFeatures);
        Assert.Equal("BatchNorm2d", bn.ModuleName);
        Assert.IsType<Tensor<float>>(bn.RunningMean);
        Assert.Equal(7, bn.Weight!.Data.FlattenedLength);
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Backward_InAnotherElementTypeThanTheForward_ThrowsAndChangesNothing()
    {
        var bn = new BatchNorm1d(3);
        (Tensor<Half> x, Tensor<float> xf) = Input<Half>([4, 3], 1, 0, 1, false);
        bn.Forward(x);
        Tensor<Half> dx = bn.Backward(Input<Half>([4, 3], 2, 0, 1, false).Stored);
        float[] weightGrad = bn.Weight!.Grad!.ToArray();
        var e = Assert.Throws<ArgumentException>(() => bn.Backward(xf));
        Assert.StartsWith("gradOutput is a Tensor<Single> but the last Forward's input was a Tensor<Half>", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => bn.Backward(Input<BFloat16>([4, 3], 2, 0, 1, false).Stored));
        Assert.Equal(weightGrad, bn.Weight.Grad!.ToArray());
        Assert.Equal(4 * 3, dx.FlattenedLength);

        bn.Forward(xf);
        Assert.Throws<ArgumentException>(() => bn.Backward(Input<Half>([4, 3], 2, 0, 1, false).Stored));
        Assert.Equal(weightGrad, bn.Weight.Grad!.ToArray());
    }

    [Fact]
    public void StridedHalfInput_IsReadThroughACopy_AndDestinationOverloadsWriteTheSameValues()
    {
        (Tensor<Half> wide, _) = Input<Half>([4, 3, 6, 10], 3, 1, 2, false);
        Tensor<Half> x = wide.Slice(new System.Buffers.NRange[] { .., .., .., 2..7 });      // a view with gaps between its rows
        var single = new BatchNorm2d(3);
        var mixed = new BatchNorm2d(3);
        Tensor<Half> y = mixed.Forward(x);
        AssertRoundedOnce(single.Forward(Widen(x)), y, "strided input");

        var other = new BatchNorm2d(3);
        Tensor<Half> destination = Tensor.CreateFromShape<Half>(x.Lengths);
        other.Forward(x, destination);
        Assert.Equal(Bits(y), Bits(destination));
        (Tensor<Half> dy, _) = Input<Half>([4, 3, 6, 5], 4, 0, 1, false);
        Tensor<Half> dxInto = Tensor.CreateFromShape<Half>(x.Lengths);
        other.Backward(dy, dxInto);
        Assert.Equal(Bits(mixed.Backward(dy)), Bits(dxInto));
        Assert.Equal(mixed.Weight!.Grad!.ToArray(), other.Weight!.Grad!.ToArray());

        Tensor<Half> input = Input<Half>([4, 3, 6, 5], 5, 0, 1, false).Stored;
        var shared = Assert.Throws<ArgumentException>(() => new BatchNorm2d(3).Forward(input, input));
        Assert.Contains("destination", shared.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCount()
    {
        int original = NormSharpOptions.MaxDegreeOfParallelism;
        try
        {
            (Tensor<BFloat16> x, _) = Input<BFloat16>([8, 16, 40, 40], 5, 2, 3, false);
            (Tensor<BFloat16> dy, _) = Input<BFloat16>([8, 16, 40, 40], 6, 0, 1, false);
            var results = new List<(ushort[] Y, ushort[] Dx, float[] Mean)>();
            foreach (int threads in new[] { 1, 4 })
            {
                NormSharpOptions.MaxDegreeOfParallelism = threads;
                var bn = new BatchNorm2d(16);
                Tensor<BFloat16> y = bn.Forward(x);
                results.Add((Bits(y), Bits(bn.Backward(dy)), bn.RunningMean!.ToArray()));
            }

            Assert.Equal(results[0].Y, results[1].Y);
            Assert.Equal(results[0].Dx, results[1].Dx);
            Assert.Equal(results[0].Mean, results[1].Mean);
        }
        finally
        {
            NormSharpOptions.MaxDegreeOfParallelism = original;
        }
    }

    [Fact]
    public void FunctionalBatchNorm_Mixed_IsTheFloatOpRoundedOnce_WithTheSameRunningStatistics()
    {
        Check<Half>();
        Check<BFloat16>();

        static void Check<TStorage>() where TStorage : unmanaged
        {
            (Tensor<TStorage> x, Tensor<float> xf) = Input<TStorage>([6, 4, 5, 3], 1, 50, 4, false);
            (Tensor<float> rm1, Tensor<float> rv1, Tensor<float> w, Tensor<float> b) = PerChannel(4);
            (Tensor<float> rm2, Tensor<float> rv2, _, _) = PerChannel(4);
            foreach (bool training in new[] { true, false })
            {
                Tensor<float> y = Functional.BatchNorm(xf, rm1, rv1, w, b, training, 0.2, 1e-3);
                Tensor<TStorage> yMixed = Mixed.BatchNorm(x, rm2, rv2, w, b, training, 0.2, 1e-3);
                AssertRoundedOnce(y, yMixed, $"{typeof(TStorage).Name} training {training}");
                Assert.Equal(rm1.ToArray(), rm2.ToArray());
                Assert.Equal(rv1.ToArray(), rv2.ToArray());
            }

            // In place into the input itself.
            Tensor<TStorage> copy = Tensor.Create(x.ToArray(), x.Lengths);
            Mixed.BatchNormInto(copy, rm2, rv2, w, b, training: false, copy);
            AssertRoundedOnce(Functional.BatchNorm(xf, rm1, rv1, w, b, false, 0.1, 1e-5), copy, "in place");
        }
    }

    [Fact]
    public void FunctionalOps_Mixed_AreTheFloatOpsRoundedOnce_AndAllNullCallsPickTheMixedOverload()
    {
        (Tensor<Half> x, Tensor<float> xf) = Input<Half>([5, 3, 4], 1, 0, 1, false);
        Tensor<float> ones = Tensor.Create(new float[] { 1, 1, 1 }, [3]);
        Tensor<Half> y = Functional.BatchNorm(x, null, null, ones, null, training: true);
        AssertRoundedOnce(Functional.BatchNorm(xf, null, null, ones, null, training: true), y, "batch_norm");
        Tensor<Half> z = Functional.InstanceNorm(x, weight: ones);
        AssertRoundedOnce(Functional.InstanceNorm(xf, weight: ones), z, "instance_norm");
        // All null: the Half overload (OverloadResolutionPriority), whose statistics are then float16 values.
        AssertNear(Functional.BatchNorm(xf, null, null, null, null, training: true), Functional.BatchNorm(x, null, null, null, null, training: true), "all null");
        AssertNear(Functional.InstanceNorm(xf), Functional.InstanceNorm(x), "instance_norm, all null");
        MixedBatchNormResult<Half> native = Functional.NativeBatchNorm(x, ones, null, null, null, true, 0.1, 1e-5);
        BatchNormResult<float> floatNative = Functional.NativeBatchNorm(xf, ones, null, null, null, true, 0.1, 1e-5);
        Assert.Equal(floatNative.SaveMean.ToArray(), native.SaveMean.ToArray());
        Assert.Equal(floatNative.SaveInvStd.ToArray(), native.SaveInvStd.ToArray());

        (Tensor<Half> dy, Tensor<float> dyf) = Input<Half>([5, 3, 4], 2, 0, 1, false);
        MixedBatchNormGradients<Half> g = Functional.BatchNormBackward(dy, x, ones, null, null, native.SaveMean, native.SaveInvStd, true, 1e-5);
        BatchNormGradients<float> gf = Functional.BatchNormBackward(dyf, xf, ones, null, null, floatNative.SaveMean, floatNative.SaveInvStd, true, 1e-5);
        AssertRoundedOnce(gf.Input!, g.Input!, "batch_norm backward dx");
        Assert.Equal(gf.Weight!.ToArray(), g.Weight!.ToArray());
        Assert.Equal(gf.Bias!.ToArray(), g.Bias!.ToArray());

        MixedBatchNormGradients<Half> gi = Functional.InstanceNormBackward(dy, x, ones, null, null, true, 1e-5);
        BatchNormGradients<float> gif = Functional.InstanceNormBackward(dyf, xf, ones, null, null, true, 1e-5);
        AssertRoundedOnce(gif.Input!, gi.Input!, "instance_norm backward dx");
        Assert.Equal(gif.Weight!.ToArray(), gi.Weight!.ToArray());

        (Tensor<float> rm1, Tensor<float> rv1, _, _) = PerChannel(3);
        (Tensor<float> rm2, Tensor<float> rv2, _, _) = PerChannel(3);
        BatchNormStatistics<float> stats = Functional.BatchNormUpdateStats(x, rm2, rv2, 0.3);
        BatchNormStatistics<float> floatStats = Functional.BatchNormUpdateStats(xf, rm1, rv1, 0.3);
        Assert.Equal(floatStats.Mean.ToArray(), stats.Mean.ToArray());
        Assert.Equal(floatStats.Var.ToArray(), stats.Var.ToArray());
        Assert.Equal(rv1.ToArray(), rv2.ToArray());
    }

    [Fact]
    public void WithoutFloatTensors_TheStatisticsAreKeptInTheInputType_AsAtensDispatchDoes()
    {
        Check<Half>();
        Check<BFloat16>();

        static void Check<TStorage>() where TStorage : unmanaged
        {
            Run<TStorage>([6, 3, 5]);
            Run<TStorage>([30, 3]);
        }

        static void Run<TStorage>(nint[] shape) where TStorage : unmanaged
        {
            // ATen's is_mixed_type sees no float parameter: the op is a float16 (bfloat16) op, its saved mean and invStd
            // float16 values (and bfloat16's sum of squared deviations a bfloat16 value, summed around the rounded mean by the
            // rows kernel of an (N, C) input); y = fma(x, alpha, beta) in float with alpha = invStd, beta = -mean·alpha.
            int spatial = shape.Length == 3 ? (int)shape[2] : 1;
            // Values around 200 with spread 1: bfloat16's spacing there is 1, so the rounded mean moves the squares' centre.
            (Tensor<TStorage> x, Tensor<float> xf) = Input<TStorage>(shape, 4, 200, 1, false);
            float[] values = xf.ToArray();
            var expected = new float[values.Length];
            var means = new float[3];
            var invStds = new float[3];
            for (int c = 0; c < 3; c++)
            {
                int[] indices = Enumerable.Range(0, (int)shape[0]).SelectMany(n => Enumerable.Range((n * 3 + c) * spatial, spatial)).ToArray();
                double mean = indices.Average(k => (double)values[k]);
                float meanStored = Round<TStorage>((float)mean);
                double centre = typeof(TStorage) == typeof(BFloat16) && spatial == 1 ? meanStored : mean;
                double varSum = indices.Sum(k => (values[k] - centre) * (values[k] - centre));
                double varSumStored = typeof(TStorage) == typeof(BFloat16) ? Round<TStorage>((float)varSum) : varSum;
                float invStd = Round<TStorage>((float)(1 / Math.Sqrt(varSumStored / indices.Length + 1e-5)));
                float beta = MathF.FusedMultiplyAdd(-meanStored, invStd, 0f);
                foreach (int k in indices) expected[k] = MathF.FusedMultiplyAdd(values[k], invStd, beta);
                (means[c], invStds[c]) = (meanStored, invStd);
            }

            Tensor<float> reference = Tensor.Create(expected, shape);
            AssertRoundedOnce(reference, Mixed.Forward(new BatchNorm1d(3, affine: false, trackRunningStats: false), x),
                              $"{typeof(TStorage).Name} layer, [{string.Join(", ", shape)}]");
            if (x is Tensor<Half> h)
            {
                AssertRoundedOnce(reference, Functional.BatchNorm(h, null, null, null, null, training: true), "functional");
                MixedBatchNormResult<Half> native = Functional.NativeBatchNorm(h, null, null, null, null, true, 0.1, 1e-5);
                Assert.Equal(means, native.SaveMean.ToArray());
                Assert.Equal(invStds, native.SaveInvStd.ToArray());
            }
        }

        static float Round<TStorage>(float value) where TStorage : unmanaged =>
            typeof(TStorage) == typeof(Half) ? (float)(Half)value : (float)(BFloat16)value;
    }

    [Fact]
    public void FunctionalInstanceNorm_Mixed_UpdatesTheFloatRunningStatisticsAsTheFloatOp()
    {
        (Tensor<BFloat16> x, Tensor<float> xf) = Input<BFloat16>([3, 4, 7, 2], 1, -2, 3, false);
        (Tensor<float> rm1, Tensor<float> rv1, Tensor<float> w, Tensor<float> b) = PerChannel(4);
        (Tensor<float> rm2, Tensor<float> rv2, _, _) = PerChannel(4);
        Tensor<float> y = Functional.InstanceNorm(xf, rm1, rv1, w, b, useInputStats: true, momentum: 0.4);
        Tensor<BFloat16> destination = Tensor.CreateFromShape<BFloat16>(x.Lengths);
        Functional.InstanceNorm(x, rm2, rv2, w, b, true, 0.4, 1e-5, destination);
        AssertRoundedOnce(y, destination, "instance_norm");
        Assert.Equal(rm1.ToArray(), rm2.ToArray());
        Assert.Equal(rv1.ToArray(), rv2.ToArray());
    }

    [Fact]
    public void FailingFunctionalCall_ThrowsPyTorchsMessage_AndChangesNothing()
    {
        (Tensor<Half> x, _) = Input<Half>([4, 3, 2], 1, 0, 1, false);
        (Tensor<float> rm, Tensor<float> rv, _, _) = PerChannel(3);
        float[] before = rm.ToArray();
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, rm, rv, Tensor.Create(new float[4], [4]), null, training: true));
        Assert.Equal("weight should contain 3 elements not 4", e.Message);
        Assert.Equal(before, rm.ToArray());
        Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, rm, rv, null, null, true, 0.1, 1e-5, Tensor.CreateFromShape<Half>([4, 3, 3])));
        Assert.Equal(before, rm.ToArray());
    }

    [Fact]
    public void HalfParameters_AreNotSupported_AndTheMessageSaysToUseAFloatLayerWithHalfInput()
    {
        var e = Assert.Throws<NotSupportedException>(() => new BatchNorm2d<Half>(3));
        Assert.Contains("float32 layer", e.Message, StringComparison.Ordinal);
        Assert.Contains("Forward(xHalf)", e.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => new LazyInstanceNorm1d<Half>());
        (Tensor<Half> x, _) = Input<Half>([4, 3], 1, 0, 1, false);
        Tensor<Half> halfMean = Tensor.Create(new Half[3], [3]);
        Assert.Throws<NotSupportedException>(() => Functional.BatchNorm(x, halfMean, halfMean, null, null, training: true));
    }

    [Fact]
    public void BFloat16_ConvertsAndComparesAsPyTorch()
    {
        Assert.Equal(0x3F80, ((BFloat16)1f).ToBits());
        Assert.Equal(0x3F80, ((BFloat16)1.00390625f).ToBits());       // a tie: to the even neighbour, 1
        Assert.Equal(0x3F82, ((BFloat16)1.01171875f).ToBits());       // a tie: to the even neighbour, 1.015625
        Assert.Equal(0x3F81, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F808001)).ToBits());   // one float past the tie
        Assert.Equal(float.PositiveInfinity, (float)(BFloat16)3.4e38f);
        Assert.True(BFloat16.IsNaN((BFloat16)float.NaN));
        Assert.False((BFloat16)float.NaN == (BFloat16)float.NaN);
        Assert.True(((BFloat16)float.NaN).Equals((BFloat16)float.NaN));
        Assert.True((BFloat16)0f == (BFloat16)(-0f));
        Assert.True((BFloat16)1f < (BFloat16)2f);
        Assert.Equal(1.5, (double)(BFloat16)1.5f);
        Assert.Equal("0.33398438", ((BFloat16)(1f / 3)).ToString());   // 0x3EAB = 0.333984375
        Assert.Equal(BFloat16.FromBits(0x4049), (BFloat16)3.14159f);
    }

    // --- helpers ---

    /// <summary>Normal values rounded to TStorage, stored as TStorage and as the same values in float.</summary>
    internal static (Tensor<TStorage> Stored, Tensor<float> Widened) Input<TStorage>(nint[] shape, int seed, double mean, double std, bool channelsLast)
        where TStorage : unmanaged
    {
        float[] values = Random<float>(seed, mean, std, shape).ToArray();
        var stored = new TStorage[values.Length];
        NormSharp.Kernels.HalfConversion.Narrow<TStorage>(values, stored);
        NormSharp.Kernels.HalfConversion.Widen<TStorage>(stored, values);
        Tensor<TStorage> x = Tensor.Create(stored, shape);
        Tensor<float> xf = Tensor.Create(values, shape);
        return channelsLast ? (ChannelsLast.From(x), ChannelsLast.From(xf)) : (x, xf);
    }

    private static (Tensor<float>, Tensor<float>, Tensor<float>, Tensor<float>) PerChannel(int channels)
    {
        Tensor<float> Make(int seed, double mean, double std) => Random<float>(seed, mean, std, channels);
        return (Make(11, 0.5, 1), Tensor.Create(Make(12, 0, 1).ToArray().Select(v => 1 + v * v).ToArray(), [channels]), Make(13, 1, 0.3), Make(14, 0, 0.5));
    }

    private static Tensor<float> Widen<TStorage>(Tensor<TStorage> x) where TStorage : unmanaged
    {
        TStorage[] stored = x.ToArray();
        var values = new float[stored.Length];
        NormSharp.Kernels.HalfConversion.Widen<TStorage>(stored, values);
        return Tensor.Create(values, x.Lengths);
    }

    private static ushort[] Bits<TStorage>(Tensor<TStorage> x) where TStorage : unmanaged => MemoryMarshal.Cast<TStorage, ushort>(x.ToArray().AsSpan()).ToArray();

    /// <summary>Every element of <paramref name="mixed"/> is the float result rounded to TStorage (in logical order).</summary>
    private static void AssertRoundedOnce<TStorage>(Tensor<float> single, Tensor<TStorage> mixed, string context) where TStorage : unmanaged
    {
        Assert.Equal(single.Lengths.ToArray(), mixed.Lengths.ToArray());
        float[] expected = single.ToArray();
        var rounded = new TStorage[expected.Length];
        NormSharp.Kernels.HalfConversion.Narrow<TStorage>(expected, rounded);
        ushort[] actual = Bits(mixed), wanted = MemoryMarshal.Cast<TStorage, ushort>(rounded.AsSpan()).ToArray();
        for (int i = 0; i < wanted.Length; i++)
            if (wanted[i] != actual[i]) Assert.Fail($"{context}, element {i}: float {expected[i]:R} rounds to {wanted[i]:X4}, got {actual[i]:X4}");
    }

    /// <summary>Every element of <paramref name="mixed"/> within a few 16-bit spacings of the float result (16 units of the
    /// type's roundoff relative, plus as much absolute at the scale of 1): a float16/bfloat16 op's rounded statistics.</summary>
    private static void AssertNear<TStorage>(Tensor<float> single, Tensor<TStorage> mixed, string context) where TStorage : unmanaged
    {
        double u16 = typeof(TStorage) == typeof(Half) ? Math.Pow(2, -11) : Math.Pow(2, -8);
        float[] expected = single.ToArray(), actual = Widen(mixed).ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 16 * u16 * (Math.Abs(expected[i]) + 1), $"{context}, element {i}: {expected[i]:R} vs {actual[i]:R}");
    }

    private static void AssertSameState(NormBase<float> single, NormBase<float> mixed, string context)
    {
        Assert.True(single.NumBatchesTracked == mixed.NumBatchesTracked, $"{context}: counter");
        Assert.Equal(single.NumFeatures, mixed.NumFeatures);
        foreach (var (a, b, name) in new[] { (single.RunningMean, mixed.RunningMean, "running_mean"), (single.RunningVar, mixed.RunningVar, "running_var"),
                                             (single.Weight?.Grad, mixed.Weight?.Grad, "weight grad"), (single.Bias?.Grad, mixed.Bias?.Grad, "bias grad") })
        {
            Assert.True((a is null) == (b is null), $"{context}: {name} exists on one side only");
            if (a is not null) Assert.True(a.ToArray().SequenceEqual(b!.ToArray()), $"{context}: {name} differs");
        }
    }

    /// <summary>The mixed-precision calls, chosen by TStorage.</summary>
    private static class Mixed
    {
        public static Tensor<TStorage> Forward<TStorage>(NormBase<float> layer, Tensor<TStorage> x) where TStorage : unmanaged =>
            x switch
            {
                Tensor<Half> h => (Tensor<TStorage>)(object)layer.Forward(h),
                Tensor<BFloat16> b => (Tensor<TStorage>)(object)layer.Forward(b),
                _ => throw new NotSupportedException(),
            };

        public static Tensor<TStorage> Backward<TStorage>(NormBase<float> layer, Tensor<TStorage> dy) where TStorage : unmanaged =>
            dy switch
            {
                Tensor<Half> h => (Tensor<TStorage>)(object)layer.Backward(h),
                Tensor<BFloat16> b => (Tensor<TStorage>)(object)layer.Backward(b),
                _ => throw new NotSupportedException(),
            };

        public static Tensor<TStorage> BatchNorm<TStorage>(Tensor<TStorage> x, Tensor<float> rm, Tensor<float> rv, Tensor<float> w, Tensor<float> b,
                                                           bool training, double momentum, double eps) where TStorage : unmanaged =>
            x switch
            {
                Tensor<Half> h => (Tensor<TStorage>)(object)Functional.BatchNorm(h, rm, rv, w, b, training, momentum, eps),
                Tensor<BFloat16> bf => (Tensor<TStorage>)(object)Functional.BatchNorm(bf, rm, rv, w, b, training, momentum, eps),
                _ => throw new NotSupportedException(),
            };

        public static void BatchNormInto<TStorage>(Tensor<TStorage> x, Tensor<float> rm, Tensor<float> rv, Tensor<float> w, Tensor<float> b,
                                                   bool training, Tensor<TStorage> destination) where TStorage : unmanaged
        {
            if (x is Tensor<Half> h) Functional.BatchNorm(h, rm, rv, w, b, training, 0.1, 1e-5, (Tensor<Half>)(object)destination);
            else Functional.BatchNorm((Tensor<BFloat16>)(object)x, rm, rv, w, b, training, 0.1, 1e-5, (Tensor<BFloat16>)(object)destination);
        }
    }
}
