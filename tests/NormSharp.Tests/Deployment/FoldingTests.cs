using System.Text.Json;
using NormSharp.Tests.Reference;
using NormSharp.Tests.Support;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Deployment;

/// <summary>Folding: the folded layer computes what the layer and the BatchNorm after it computed (against the test
/// project's own reference convolutions, checked against PyTorch), every refusal, and unfold as the inverse.</summary>
public class FoldingTests
{
    /// <summary>A layer before a BatchNorm: its weight's shape, what it is, its stride and padding.</summary>
    public sealed record Layer(string Name, int[] WeightShape, FoldTarget Target, int Stride = 1, int Padding = 0)
    {
        public bool Transposed => Target.Kind == FoldTargetKind.TransposedConvolution;

        public int Outputs => Target.Kind switch
        {
            FoldTargetKind.TransposedConvolution => WeightShape[1] * Target.Groups,
            _ => WeightShape[0],
        };

        public int Inputs => Target.Kind switch
        {
            FoldTargetKind.Linear => WeightShape[1],
            FoldTargetKind.Convolution => WeightShape[1] * Target.Groups,
            _ => WeightShape[0],
        };

        public override string ToString() => Name;
    }

    private static readonly Layer[] Layers =
    [
        new("Linear(5, 4)", [4, 5], FoldTarget.Linear),
        new("Conv1d(4, 6, 3)", [6, 4, 3], FoldTarget.Convolution(), 1, 1),
        new("Conv1d(4, 6, 3, groups 2)", [6, 2, 3], FoldTarget.Convolution(2), 2, 1),
        new("Conv1d(4, 4, 3, depthwise)", [4, 1, 3], FoldTarget.Convolution(4)),
        new("Conv2d(3, 6, 3)", [6, 3, 3, 3], FoldTarget.Convolution(), 2, 1),
        new("Conv2d(4, 6, 3, groups 2)", [6, 2, 3, 3], FoldTarget.Convolution(2), 1, 1),
        new("Conv2d(4, 8, 3, depthwise x2)", [8, 1, 3, 3], FoldTarget.Convolution(4), 1, 1),
        new("Conv3d(2, 4, 2)", [4, 2, 2, 2, 2], FoldTarget.Convolution()),
        new("Conv3d(4, 4, 2, groups 2)", [4, 2, 2, 2, 2], FoldTarget.Convolution(2), 1, 1),
        new("Conv3d(3, 3, 2, depthwise)", [3, 1, 2, 2, 2], FoldTarget.Convolution(3)),
        new("ConvTranspose2d(3, 5, 3)", [3, 5, 3, 3], FoldTarget.TransposedConvolution(), 2, 1),
        new("ConvTranspose2d(4, 6, 3, groups 2)", [4, 3, 3, 3], FoldTarget.TransposedConvolution(2), 2, 1),
        new("ConvTranspose2d(4, 4, 2, depthwise)", [4, 1, 2, 2], FoldTarget.TransposedConvolution(4)),
    ];

    public static TheoryData<Layer, bool, bool> Cases()
    {
        var cases = new TheoryData<Layer, bool, bool>();
        foreach (Layer layer in Layers)
            foreach (bool withBias in new[] { true, false })
                foreach (bool affine in new[] { true, false })
                    cases.Add(layer, withBias, affine);
        return cases;
    }

    private static double[] Normal(int seed, int length, double mean = 0, double std = 1) => Values(Random<double>(seed, mean, std, [length]));

    /// <summary>A trained-looking BatchNorm in eval: statistics and affine parameters set, counter 100.</summary>
    private static NormBase<T> TrainedNorm<T>(int rank, int channels, bool affine, int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        NormBase<T> bn = rank switch
        {
            2 or 3 => new BatchNorm1d<T>(channels, eps: 1e-3, affine: affine),
            4 => new BatchNorm2d<T>(channels, eps: 1e-3, affine: affine),
            _ => new BatchNorm3d<T>(channels, eps: 1e-3, affine: affine),
        };
        Set(bn.RunningMean!, Normal(seed, channels, 0.5, 2));
        Set(bn.RunningVar!, Normal(seed + 1, channels).Select(v => 0.2 + v * v).ToArray());
        if (affine)
        {
            Set(bn.Weight!.Data, Normal(seed + 2, channels, 1, 0.5));
            Set(bn.Bias!.Data, Normal(seed + 3, channels));
        }

        bn.NumBatchesTracked = 100;
        bn.Eval();
        return bn;
    }

    private static void Set<T>(Tensor<T> tensor, double[] values) where T : System.Numerics.IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++) tensor[[i]] = T.CreateTruncating(values[i]);
    }

    private static DenseArray Apply(Layer layer, DenseArray x, DenseArray weight, double[]? bias) => layer.Target.Kind switch
    {
        FoldTargetKind.Linear => NaiveConvolution.Linear(x, weight, bias),
        FoldTargetKind.Convolution => NaiveConvolution.Convolution(x, weight, bias, layer.Target.Groups, layer.Stride, layer.Padding),
        _ => NaiveConvolution.TransposedConvolution(x, weight, bias, layer.Target.Groups, layer.Stride, layer.Padding),
    };

    private static DenseArray ProbeFor(Layer layer, int seed)
    {
        int[] shape = layer.Target.Kind == FoldTargetKind.Linear ? [3, layer.Inputs] : [2, layer.Inputs, .. layer.WeightShape[2..].Select(k => k + 3)];
        return new DenseArray(Normal(seed, shape.Aggregate(1, (a, b) => a * b), 0.3, 1.5), shape);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fold_ReproducesTheLayerThenTheBatchNorm_InDouble(Layer layer, bool withBias, bool affine)
    {
        int rank = layer.WeightShape.Length;
        double[] w = Normal(7, layer.WeightShape.Aggregate(1, (a, b) => a * b));
        double[]? b = withBias ? Normal(8, layer.Outputs) : null;
        NormBase<double> bn = TrainedNorm<double>(rank, layer.Outputs, affine, 9);
        Tensor<double> weight = Tensor.Create(w, layer.WeightShape.Select(l => (nint)l).ToArray());

        FoldResult<double> folded = Folding.FoldInto(weight, b is null ? null : Tensor.Create(b, [b.Length]), bn, layer.Target);

        // The original pair: the reference layer, then the BatchNorm's own evaluation forward.
        DenseArray x = ProbeFor(layer, 10);
        DenseArray z = Apply(layer, x, new DenseArray(w, layer.WeightShape), b);
        double[] expected = Values(bn.Forward(Tensor.Create(z.Values, z.Shape.Select(l => (nint)l).ToArray())));
        double[] actual = Apply(layer, x, new DenseArray(Values(folded.Weight), layer.WeightShape), Values(folded.Bias)).Values;
        double scale = expected.Max(Math.Abs);
        AllClose(expected, actual, atol: 1e-13 * scale);

        Assert.Equal(layer.WeightShape.Select(l => (nint)l), folded.Weight.Lengths.ToArray());
        Assert.Equal([(nint)layer.Outputs], folded.Bias.Lengths.ToArray());
        Assert.NotNull(folded.Check);
        Assert.True(folded.Check.RelativeDifference < 1e-14, $"check: {folded.Check}");
        Assert.Equal(w, Values(weight));                      // nothing changed
        Assert.False(bn.Training);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(11)]
    public void Fold_InFloat_IsComputedInDouble_AndRoundedOnce(int layerIndex)
    {
        Layer layer = Layers[layerIndex];
        double[] w = Normal(17, layer.WeightShape.Aggregate(1, (a, b) => a * b));
        double[] b = Normal(18, layer.Outputs);
        NormBase<float> bn = TrainedNorm<float>(layer.WeightShape.Length, layer.Outputs, affine: true, 19);
        var weight = Tensor.Create(w.Select(v => (float)v).ToArray(), layer.WeightShape.Select(l => (nint)l).ToArray());
        FoldResult<float> folded = Folding.FoldInto(weight, Tensor.Create(b.Select(v => (float)v).ToArray(), [b.Length]), bn, layer.Target);

        // The same fold in double from the float inputs, rounded to float once: equal bit for bit.
        double[] wf = Values(weight);
        FoldResult<double> inDouble = Folding.FoldInto(Tensor.Create(wf, weight.Lengths), Tensor.Create(b.Select(v => (double)(float)v).ToArray(), [b.Length]),
                                                       bn.ToDouble(), layer.Target, check: false);
        Assert.Equal(Values(inDouble.Weight).Select(v => (double)(float)v), Values(folded.Weight));
        Assert.Equal(Values(inDouble.Bias).Select(v => (double)(float)v), Values(folded.Bias));
        Assert.True(folded.Check!.RelativeDifference < 1e-6, $"check: {folded.Check}");
        Assert.True(folded.Check.RelativeDifference > 1e-10, "a float fold rounds");
    }

    [Theory]
    [InlineData("Conv2d(4, 6, 3, stride 2, padding 1, groups 2)")]
    [InlineData("ConvTranspose2d(4, 6, 3, stride 2, padding 1, groups 2)")]
    [InlineData("ConvTranspose2d(4, 4, 2, groups 4, no bias)")]
    public void Fold_MatchesPyTorch_WhereItsOwnFuseFailsOnGroupedTransposedConvolutions(string name)
    {
        // Fixtures/fold_expected.json (generate_fold.py): PyTorch 1.13's bn(layer(x)) and its fuse_conv_bn_weights.
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(RepositoryPaths.Of("tests", "NormSharp.Tests", "Deployment", "Fixtures", "fold_expected.json")));
        JsonElement c = document.RootElement.GetProperty("cases").GetProperty(name);
        double[] Doubles(string key) => c.GetProperty(key).EnumerateArray().Select(e => e.GetDouble()).ToArray();
        int[] Ints(string key) => c.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        bool transposed = name.StartsWith("ConvTranspose", StringComparison.Ordinal);
        int groups = c.GetProperty("groups").GetInt32(), stride = Ints("stride")[0], padding = Ints("padding")[0];
        int[] weightShape = Ints("weight_shape");
        double[]? bias = c.GetProperty("bias").ValueKind == JsonValueKind.Null ? null : Doubles("bias");
        int channels = Doubles("running_mean").Length;

        var bn = new BatchNorm2d<double>(channels, eps: c.GetProperty("eps").GetDouble());
        Set(bn.RunningMean!, Doubles("running_mean"));
        Set(bn.RunningVar!, Doubles("running_var"));
        Set(bn.Weight!.Data, Doubles("bn_weight"));
        Set(bn.Bias!.Data, Doubles("bn_bias"));
        bn.NumBatchesTracked = 10;
        bn.Eval();
        var layer = new Layer(name, weightShape, transposed ? FoldTarget.TransposedConvolution(groups) : FoldTarget.Convolution(groups), stride, padding);
        FoldResult<double> folded = Folding.FoldInto(Tensor.Create(Doubles("weight"), weightShape.Select(l => (nint)l).ToArray()),
                                                     bias is null ? null : Tensor.Create(bias, [bias.Length]), bn, layer.Target);

        var x = new DenseArray(Doubles("x"), Ints("x_shape"));
        double[] torch = Doubles("y");
        // The test's reference layer is PyTorch's, and the folded layer computes PyTorch's bn(layer(x)).
        double[] original = Apply(layer, x, new DenseArray(Doubles("weight"), weightShape), bias).Values;
        double[] viaBatchNorm = Values(bn.Forward(Tensor.Create(original, Ints("y_shape").Select(l => (nint)l).ToArray())));
        AllClose(torch, viaBatchNorm, atol: 1e-12);
        AllClose(torch, Apply(layer, x, new DenseArray(Values(folded.Weight), weightShape), Values(folded.Bias)).Values, atol: 1e-12);

        if (c.GetProperty("fuse_error").ValueKind == JsonValueKind.String)
            Assert.Contains("must match the size", c.GetProperty("fuse_error").GetString(), StringComparison.Ordinal);
        else if (Doubles("fused_weight").Length != Values(folded.Weight).Length)
            Assert.Equal(4 * Values(folded.Weight).Length, Doubles("fused_weight").Length);   // PyTorch broadcast [4, 1, 2, 2] to [4, 4, 2, 2]
        else
        {
            AllClose(Doubles("fused_weight"), Values(folded.Weight), atol: 1e-14, rtol: 1e-13);
            AllClose(Doubles("fused_bias"), Values(folded.Bias), atol: 1e-14, rtol: 1e-13);
        }
    }

    [Fact]
    public void Fold_ReadsAWeightThroughItsStrides()
    {
        // A Linear weight given as the transpose of an [in, out] array (a strided view).
        double[] storage = Normal(3, 20);
        var transposedView = Tensor.Create(storage, 0, [4, 5], [1, 4]);
        var dense = Tensor.Create(Enumerable.Range(0, 20).Select(i => storage[i % 5 * 4 + i / 5]).ToArray(), [4, 5]);
        NormBase<double> bn = TrainedNorm<double>(2, 4, affine: true, 4);
        Assert.Equal(Values(Folding.FoldInto(dense, null, bn).Weight), Values(Folding.FoldInto(transposedView, null, bn).Weight));
    }

    // ---- refusals: a message that says why, and nothing changed ----

    private static ArgumentException Refusal<T>(Tensor<double> weight, Tensor<double>? bias, NormBase<T> bn, FoldTarget? target = null, bool force = false)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        StateDict before = bn.StateDict();
        double[] weightBefore = Values(weight);
        (bool training, bool tracking) = (bn.Training, bn.TrackRunningStats);
        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => Folding.FoldInto(weight, bias, bn, target, force));
        Assert.Equal(weightBefore, Values(weight));
        Assert.Equal((training, tracking), (bn.Training, bn.TrackRunningStats));
        StateDict after = bn.StateDict();
        foreach (string key in before.Keys.Where(k => !before[k].IsUninitialized)) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());
        return error;
    }

    private static Tensor<double> ConvWeight(int outputs = 4) => Tensor.Create(Normal(1, outputs * 3 * 9), [outputs, 3, 3, 3]);

    [Fact]
    public void Refuses_ALayerInTrainingMode()
    {
        NormBase<double> bn = TrainedNorm<double>(4, 4, affine: true, 1);
        bn.Train();
        Assert.Contains("is in training mode: its forward normalizes with each batch's own statistics", Refusal(ConvWeight(), null, bn).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_ALayerWithoutRunningStatistics_EvenInEvaluation()
    {
        var bn = new BatchNorm2d<double>(4, trackRunningStats: false);
        bn.Eval();
        Assert.Contains("has no running statistics (built with trackRunningStats: false): even in evaluation mode", Refusal(ConvWeight(), null, bn).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_AnInstanceNormThatUsesPerSampleStatistics_ButFoldsOneThatUsesRunningStatistics()
    {
        var inorm = new InstanceNorm2d<double>(4, trackRunningStats: true);
        inorm.Eval();
        inorm.TrackRunningStats = false;
        Assert.Contains("has TrackRunningStats false: its forward normalizes each sample with its own statistics", Refusal(ConvWeight(), null, inorm).Message, StringComparison.Ordinal);
        inorm.TrackRunningStats = true;
        Assert.Contains("num_batches_tracked = 0", Refusal(ConvWeight(), null, inorm).Message, StringComparison.Ordinal);   // InstanceNorm never counts
        Assert.True(Folding.FoldInto(ConvWeight(), null, inorm, force: true).Check!.RelativeDifference < 1e-14);
        Assert.Contains("only a BatchNorm folds into a linear layer", Refusal(Tensor.Create(new double[8], [4, 2]), null, inorm, force: true).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_ACounterOfZero_UnlessForced()
    {
        NormBase<double> bn = TrainedNorm<double>(4, 4, affine: true, 1);
        bn.NumBatchesTracked = 0;
        ArgumentException error = Refusal(ConvWeight(), null, bn);
        Assert.Contains("has num_batches_tracked = 0: its running statistics were never updated by a training batch", error.Message, StringComparison.Ordinal);
        Assert.Contains("pass force: true", error.Message, StringComparison.Ordinal);
        Assert.NotNull(Folding.FoldInto(ConvWeight(), null, bn, force: true).Weight);
    }

    [Theory]
    [InlineData("running_var", -0.5, "running_var is negative (-0.5) in channel 2")]
    [InlineData("running_var", double.NaN, "running_var is NaN in channel 2")]
    [InlineData("running_var", double.PositiveInfinity, "running_var is Infinity in channel 2")]
    [InlineData("running_mean", double.NegativeInfinity, "running_mean is -Infinity in channel 2")]
    [InlineData("weight", double.NaN, "its weight is NaN in channel 2")]
    [InlineData("bias", double.PositiveInfinity, "its bias is Infinity in channel 2")]
    public void Refuses_StatisticsOrParametersThatAreNotFiniteOrNegative(string tensor, double value, string message)
    {
        NormBase<double> bn = TrainedNorm<double>(4, 4, affine: true, 1);
        Tensor<double> target = tensor switch { "running_var" => bn.RunningVar!, "running_mean" => bn.RunningMean!, "weight" => bn.Weight!.Data, _ => bn.Bias!.Data };
        target[[2]] = value;
        ArgumentException error = Refusal(ConvWeight(), null, bn);
        Assert.Contains("the BatchNorm2d cannot be folded: " + message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_AZeroVarianceWithZeroEps()
    {
        NormBase<double> bn = TrainedNorm<double>(4, 4, affine: true, 1);
        bn.RunningVar![[1]] = 0;
        bn.Eps = 0;
        Assert.Contains("running_var + eps is 0 in channel 1", Refusal(ConvWeight(), null, bn).Message, StringComparison.Ordinal);
        bn.Eps = 1e-5;
        Assert.NotNull(Folding.FoldInto(ConvWeight(), null, bn));
    }

    [Fact]
    public void Refuses_ShapesThatDoNotFit()
    {
        NormBase<double> bn = TrainedNorm<double>(4, 4, affine: true, 1);
        Assert.Contains("the BatchNorm2d normalizes 4 channels but the convolution has 6 output channels (dim 0 of its weight)",
                        Refusal(ConvWeight(6), null, bn).Message, StringComparison.Ordinal);
        Assert.Contains("bias has shape [3]; the layer has 4 output channels, so it must have shape [4]",
                        Refusal(ConvWeight(), Tensor.Create(new double[3], [3]), bn).Message, StringComparison.Ordinal);
        Assert.Contains("a linear layer's weight is [out, in]; this one has shape [4, 3, 3, 3]",
                        Refusal(ConvWeight(), null, bn, FoldTarget.Linear).Message, StringComparison.Ordinal);
        Assert.Contains("the BatchNorm2d cannot take the convolution's output (shape [2, 4, 2], N and spatial sizes 2): expected 4D input (got 3D input)",
                        Refusal(Tensor.Create(new double[4 * 3 * 3], [4, 3, 3]), null, bn).Message, StringComparison.Ordinal);
        Assert.Contains("a transposed convolution of 3 groups has a multiple of 3 input channels; the weight [4, 3, 3, 3] has 4",
                        Refusal(ConvWeight(), null, bn, FoldTarget.TransposedConvolution(3)).Message, StringComparison.Ordinal);
        Assert.Contains("the BatchNorm2d normalizes 4 channels but the transposed convolution has 6 output channels (dim 1 of [in, out/groups, k...] times 2 groups)",
                        Refusal(ConvWeight(), null, bn, FoldTarget.TransposedConvolution(2)).Message, StringComparison.Ordinal);
        Assert.Contains("has not been initialized", Refusal(ConvWeight(), null, new LazyBatchNorm2d<double>()).Message, StringComparison.Ordinal);
    }

    // ---- unfold ----

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(11)]
    public void Unfold_ThenFoldAgain_GivesTheFoldedLayerBack_AndThePairComputesWhatTheFoldedLayerComputes(int layerIndex)
    {
        Layer layer = Layers[layerIndex];
        double[] w = Normal(27, layer.WeightShape.Aggregate(1, (a, b) => a * b));
        NormBase<double> bn = TrainedNorm<double>(layer.WeightShape.Length, layer.Outputs, affine: true, 28);
        nint[] shape = layer.WeightShape.Select(l => (nint)l).ToArray();
        FoldResult<double> folded = Folding.FoldInto(Tensor.Create(w, shape), Tensor.Create(Normal(29, layer.Outputs), [layer.Outputs]), bn, layer.Target);

        foreach (bool withStatistics in new[] { false, true })
        {
            UnfoldResult<double> unfolded = withStatistics
                ? Folding.Unfold(folded.Weight, folded.Bias, layer.Target, eps: 1e-3, bn.RunningMean, bn.RunningVar)
                : Folding.Unfold(folded.Weight, folded.Bias, layer.Target);
            Assert.Null(unfolded.Bias);
            Assert.Equal(0L, unfolded.Norm.NumBatchesTracked);
            Assert.False(unfolded.Norm.Training);
            Assert.Equal(layer.WeightShape.Length == 5 ? "BatchNorm3d" : layer.WeightShape.Length == 4 ? "BatchNorm2d" : "BatchNorm1d", unfolded.Norm.ModuleName);

            FoldResult<double> again = Folding.FoldInto(unfolded.Weight, unfolded.Bias, unfolded.Norm, layer.Target, force: true);
            AllClose(Values(folded.Weight), Values(again.Weight), atol: 0, rtol: 1e-15);
            AllClose(Values(folded.Bias), Values(again.Bias), atol: 1e-14);

            DenseArray x = ProbeFor(layer, 30);
            DenseArray z = Apply(layer, x, new DenseArray(Values(unfolded.Weight), layer.WeightShape), null);
            double[] pair = Values(unfolded.Norm.Forward(Tensor.Create(z.Values, z.Shape.Select(l => (nint)l).ToArray())));
            double[] foldedOutput = Apply(layer, x, new DenseArray(Values(folded.Weight), layer.WeightShape), Values(folded.Bias)).Values;
            AllClose(foldedOutput, pair, atol: 1e-12);
        }
    }

    [Fact]
    public void Unfold_WithStatisticsRecalibratedOnData_TrainingModeStartsNearTheFoldedFunction()
    {
        // Unfold to the identity, recalibrate it on the data (the statistics of z = W'·x), unfold again with them: training
        // mode, which normalizes with batch statistics, then computes about what the folded layer computes.
        double[] w = Normal(37, 20);
        var x = new DenseArray(Normal(38, 4000 * 5, 0.5, 2), [4000, 5]);
        NormBase<double> bn = TrainedNorm<double>(2, 4, affine: true, 39);
        FoldResult<double> folded = Folding.FoldInto(Tensor.Create(w, [4, 5]), null, bn);

        UnfoldResult<double> identity = Folding.Unfold(folded.Weight, folded.Bias, eps: 1e-3);
        Tensor<double> z = Tensor.Create(NaiveConvolution.Linear(x, new DenseArray(Values(identity.Weight), [4, 5]), null).Values, [4000, 4]);
        using (RecalibrationSession session = Recalibration.Begin(identity.Norm))
        {
            identity.Norm.Forward(z);
            session.Complete();
        }

        UnfoldResult<double> unfolded = Folding.Unfold(folded.Weight, folded.Bias, eps: 1e-3, runningMean: identity.Norm.RunningMean, runningVar: identity.Norm.RunningVar);
        unfolded.Norm.Train();
        double[] trainingOutput = Values(unfolded.Norm.Forward(z));
        double[] foldedOutput = NaiveConvolution.Linear(x, new DenseArray(Values(folded.Weight), [4, 5]), Values(folded.Bias)).Values;
        AllClose(foldedOutput, trainingOutput, atol: 1e-3 * foldedOutput.Max(Math.Abs));

        // The identity itself, in training mode, computes something else: batch statistics are not its running ones.
        identity.Norm.Train();
        Assert.True(Values(identity.Norm.Forward(z)).Zip(foldedOutput).Max(p => Math.Abs(p.First - p.Second)) > 0.1);
    }

    [Fact]
    public void Unfold_Refuses_BadEpsAndStatistics()
    {
        var weight = Tensor.Create(new double[4 * 3 * 9], [4, 3, 3, 3]);
        var bias = Tensor.Create(new double[4], [4]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Folding.Unfold(weight, bias, eps: 0));
        Assert.Contains("runningVar is -1 in channel 0", Assert.Throws<ArgumentException>(() =>
            Folding.Unfold(weight, bias, runningVar: Tensor.Create(new double[] { -1, 1, 1, 1 }, [4]))).Message, StringComparison.Ordinal);
        Assert.Contains("runningMean has shape [3]; it must have shape [4]", Assert.Throws<ArgumentException>(() =>
            Folding.Unfold(weight, bias, runningMean: Tensor.Create(new double[3], [3]))).Message, StringComparison.Ordinal);
        Assert.Contains("has no BatchNorm to follow it", Assert.ThrowsAny<ArgumentException>(() =>
            Folding.Unfold(Tensor.Create(new double[4 * 2 * 64], [4, 2, 2, 2, 2, 2, 2]), bias)).Message, StringComparison.Ordinal);
    }
}
