using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// The statistics policies. Each row of <see cref="Table"/> is one policy x mode x flag combination: what
/// normalizes, whether the buffers change, how far the counter moves, or the error. Every row is also checked against
/// <c>Explain</c>, which reads the same decision.
/// </summary>
public class StatisticsPolicyTests
{
    // layer: bn (BatchNorm1d(3), tracking), bn-untracked (built without buffers), in (InstanceNorm1d(3, tracking)),
    // in-untracked (InstanceNorm1d(3)), in-evalnotrack (InstanceNorm1d(3, tracking) then TrackRunningStats = false).
    // expect: "batch" / "instance" / "running" (what normalized), or "error".
    public static TheoryData<string, bool, bool, SmallBatchPolicy, EmptyBatchPolicy, int[], string, bool, int> Table => new()
    {
        //  layer            train  freeze  small-batch                          empty-batch                 shape       expect     buffers counter
        { "bn",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [4, 3],     "batch",   true,  1 },
        { "bn",              true,  true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [4, 3],     "running", false, 0 },
        { "bn",              false, true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [4, 3],     "running", false, 0 },
        { "bn",              true,  true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [1, 3],     "running", false, 0 },
        { "bn-untracked",    true,  true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [4, 3],     "error",   false, 0 },
        { "bn",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [1, 3],     "error",   false, 0 },
        { "bn",              true,  false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [1, 3],     "running", false, 0 },
        { "bn",              true,  false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [2, 3],     "batch",   true,  1 },
        { "bn-untracked",    true,  false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [1, 3],     "error",   false, 0 },
        { "bn-untracked",    false, false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [1, 3],     "error",   false, 0 },
        { "bn-untracked",    false, false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [1, 3],     "error",   false, 0 },
        { "bn",              false, false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [1, 3],     "running", false, 0 },
        { "bn",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [0, 3],     "batch",   false, 1 },
        { "bn",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.SkipUpdate, [0, 3],     "batch",   false, 0 },
        { "bn",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.SkipUpdate, [4, 3],     "batch",   true,  1 },
        { "in",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [2, 3, 4],  "instance", true, 0 },
        { "in",              true,  true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [2, 3, 4],  "running", false, 0 },
        { "in-untracked",    true,  true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [2, 3, 4],  "error",   false, 0 },
        { "in",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [2, 3, 1],  "error",   false, 0 },
        { "in",              true,  false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [2, 3, 1],  "running", false, 0 },
        { "in-evalnotrack",  false, false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [2, 3, 1],  "error",   false, 0 },
        { "in-evalnotrack",  false, false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [2, 3, 1],  "running", false, 0 },
        { "in-untracked",    true,  false, SmallBatchPolicy.UseRunningStatistics, EmptyBatchPolicy.PyTorch,    [2, 3, 1],  "error",   false, 0 },
        { "in",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [0, 3, 4],  "instance", true, 0 },
        { "in",              true,  false, SmallBatchPolicy.Error,                EmptyBatchPolicy.SkipUpdate, [0, 3, 4],  "instance", false, 0 },
        { "in",              true,  true,  SmallBatchPolicy.Error,                EmptyBatchPolicy.PyTorch,    [0, 3, 4],  "running", false, 0 },
    };

    private static NormBase<double> Layer(string kind) => kind switch
    {
        "bn" => new BatchNorm1d<double>(3),
        "bn-untracked" => new BatchNorm1d<double>(3, trackRunningStats: false),
        "in" => new InstanceNorm1d<double>(3, trackRunningStats: true),
        "in-evalnotrack" => new InstanceNorm1d<double>(3, trackRunningStats: true) { TrackRunningStats = false },
        _ => new InstanceNorm1d<double>(3),
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Policy_Table(string kind, bool train, bool freeze, SmallBatchPolicy small, EmptyBatchPolicy empty, int[] shape,
                             string expect, bool buffersChange, int counterDelta)
    {
        NormBase<double> layer = Layer(kind);
        layer.Train(train);
        (layer.FreezeStatistics, layer.SmallBatchPolicy, layer.EmptyBatchPolicy) = (freeze, small, empty);
        if (layer.RunningMean is not null)
        {
            layer.RunningMean.Fill(0.5);
            layer.RunningVar!.Fill(4.0);
        }

        double[]? meanBefore = layer.RunningMean is null ? null : Values(layer.RunningMean);
        long? counterBefore = layer.NumBatchesTracked;
        nint[] lengths = shape.Select(l => (nint)l).ToArray();
        Tensor<double> x = Random<double>(3, 1, 2, lengths);
        ForwardPlan plan = layer.Explain(lengths);
        if (expect == "error")
        {
            Assert.NotNull(plan.Error);
            var error = Assert.Throws<ArgumentException>(() => layer.Forward(x));
            Assert.Equal(plan.Error, error.Message);
            Assert.Equal(meanBefore, layer.RunningMean is null ? null : Values(layer.RunningMean));
            Assert.Equal(counterBefore, layer.NumBatchesTracked);
            return;
        }

        Assert.Null(plan.Error);
        Tensor<double> y = layer.Forward(x);
        Assert.Equal(expect, plan.NormalizeWith.ToString().ToLowerInvariant());
        Assert.Equal(buffersChange, plan.UpdatesRunningStatistics);
        if (meanBefore is not null)
        {
            double[] after = Values(layer.RunningMean!);
            Assert.Equal(buffersChange, !after.SequenceEqual(meanBefore));
        }

        Assert.Equal(counterBefore + counterDelta, layer.NumBatchesTracked);
        Assert.Equal(layer.NumBatchesTracked, plan.CounterAfter ?? layer.NumBatchesTracked);
        if (expect == "running" && x.FlattenedLength > 0)
        {
            // y = (x - 0.5) / sqrt(4 + eps) with the default affine parameters.
            double[] expected = Values(x).Select(v => (v - 0.5) / Math.Sqrt(4 + 1e-5)).ToArray();
            AllClose(expected, Values(y), 1e-12);
        }

        if (freeze || plan.NormalizeWith == StatisticsSource.Running && train)
            Assert.Contains(plan.Reasons, r => r.Contains("FreezeStatistics", StringComparison.Ordinal) || r.Contains("SmallBatchPolicy", StringComparison.Ordinal));
    }

    [Fact]
    public void FreezeStatistics_SurvivesTrainAndEval_AndTheCounterNeverMoves()
    {
        var bn = new BatchNorm2d<double>(2) { FreezeStatistics = true };
        bn.RunningMean!.Fill(1.0);
        double[] varBefore = Values(bn.RunningVar!);
        for (int i = 0; i < 3; i++)
        {
            bn.Eval();
            bn.Forward(Random<double>(i, 0, 1, 4, 2, 3, 3));
            bn.Train();
            bn.Forward(Random<double>(i + 10, 0, 1, 4, 2, 3, 3));
        }

        Assert.True(bn.FreezeStatistics);
        Assert.Equal([1.0, 1.0], Values(bn.RunningMean));
        Assert.Equal(varBefore, Values(bn.RunningVar!));
        Assert.Equal(0, bn.NumBatchesTracked);
    }

    [Fact]
    public void FreezeStatistics_TrainingBackward_IsTheRunningStatisticsFormula()
    {
        var bn = new BatchNorm1d<double>(2) { FreezeStatistics = true };
        bn.RunningMean![0] = 1.5;
        bn.RunningVar![1] = 4.0;
        bn.Weight!.Data[0] = -3;
        Tensor<double> x = Random<double>(3, 0, 1, 5, 2), dy = Random<double>(4, 0, 1, 5, 2);
        bn.Forward(x);
        double[] dx = Values(bn.Backward(dy));
        double[] invStd = [1 / Math.Sqrt(1 + 1e-5), 1 / Math.Sqrt(4 + 1e-5)], weight = [-3, 1];
        double[] expected = Values(dy).Select((g, i) => g * weight[i % 2] * invStd[i % 2]).ToArray();
        AllClose(expected, dx, 1e-12);
    }

    [Fact]
    public void FreezeParameters_BackwardGivesDxButNoParameterGradients()
    {
        var frozen = new BatchNorm1d<double>(3) { FreezeParameters = true };
        var plain = new BatchNorm1d<double>(3);
        Tensor<double> x = Random<double>(5, 0, 1, 6, 3), dy = Random<double>(6, 0, 1, 6, 3);
        frozen.Forward(x);
        plain.Forward(x);
        Assert.Equal(Values(plain.Backward(dy)), Values(frozen.Backward(dy)));
        Assert.Null(frozen.Weight!.Grad);
        Assert.Null(frozen.Bias!.Grad);
        Assert.NotNull(plain.Weight!.Grad);
        Assert.Contains(frozen.Explain([6, 3]).Reasons, r => r.StartsWith("FreezeParameters = true", StringComparison.Ordinal));
    }

    [Fact]
    public void FreezeBoth_InstanceNorm_NormalizesWithRunningStatisticsAndHasNoParameterGradients()
    {
        var layer = new InstanceNorm1d<double>(2, affine: true, trackRunningStats: true) { FreezeStatistics = true, FreezeParameters = true };
        Tensor<double> x = Random<double>(7, 0, 1, 3, 2, 5);
        Tensor<double> y = layer.Forward(x);
        AllClose(Values(x).Select(v => v / Math.Sqrt(1 + 1e-5)).ToArray(), Values(y), 1e-12);
        layer.Backward(Random<double>(8, 0, 1, 3, 2, 5));
        Assert.Null(layer.Weight!.Grad);
        Assert.Equal([0.0, 0.0], Values(layer.RunningMean!));
    }

    [Fact]
    public void Setters_RejectUndefinedValues_AndChangeNothing()
    {
        var bn = new BatchNorm1d<float>(3) { SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics, NonFinitePolicy = NonFinitePolicy.Throw };
        Assert.Throws<ArgumentOutOfRangeException>(() => bn.SmallBatchPolicy = (SmallBatchPolicy)7);
        Assert.Throws<ArgumentOutOfRangeException>(() => bn.EmptyBatchPolicy = (EmptyBatchPolicy)(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => bn.NonFinitePolicy = (NonFinitePolicy)3);
        Assert.Equal(SmallBatchPolicy.UseRunningStatistics, bn.SmallBatchPolicy);
        Assert.Equal(EmptyBatchPolicy.PyTorch, bn.EmptyBatchPolicy);
        Assert.Equal(NonFinitePolicy.Throw, bn.NonFinitePolicy);
    }

    [Fact]
    public void Defaults_ArePyTorchs()
    {
        var bn = new BatchNorm2d(4);
        Assert.False(bn.FreezeStatistics);
        Assert.False(bn.FreezeParameters);
        Assert.Equal(SmallBatchPolicy.Error, bn.SmallBatchPolicy);
        Assert.Equal(EmptyBatchPolicy.PyTorch, bn.EmptyBatchPolicy);
        Assert.Equal(NonFinitePolicy.Propagate, bn.NonFinitePolicy);
    }

    [Fact]
    public void Policies_AreNotInTheStateDict_AndSurviveConversion()
    {
        var bn = new BatchNorm1d<float>(3) { FreezeStatistics = true, EmptyBatchPolicy = EmptyBatchPolicy.SkipUpdate };
        Assert.Equal(new BatchNorm1d<float>(3).StateDict().Keys, bn.StateDict().Keys);
        var twin = bn.ToDouble();
        Assert.True(twin.FreezeStatistics);
        Assert.Equal(EmptyBatchPolicy.SkipUpdate, twin.EmptyBatchPolicy);
    }

    [Fact]
    public void SmallBatch_StreamOfOnes_InTraining_UsesRunningStatistics()
    {
        var bn = new BatchNorm1d<double>(2) { SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics };
        bn.Forward(Random<double>(1, 0, 1, 8, 2));   // a real batch: counts and updates
        double[] mean = Values(bn.RunningMean!);
        for (int i = 0; i < 5; i++) bn.Forward(Random<double>(i + 2, 0, 1, 1, 2));
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(1, bn.NumBatchesTracked);
    }

    [Fact]
    public void SmallBatch_WithoutRunningStatistics_SaysWhyThePolicyCouldNotApply()
    {
        var bn = new BatchNorm1d<double>(2, trackRunningStats: false) { SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics };
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(Random<double>(1, 0, 1, 1, 2)));
        Assert.StartsWith("Expected more than 1 value per channel when training", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("cannot apply: the layer has no running statistics.)", error.Message, StringComparison.Ordinal);
    }

    private static Tensor<double> WithNaNInChannel1(int n)
    {
        Tensor<double> x = Random<double>(9, 0, 1, n, 3);
        x[1, 1] = double.NaN;
        return x;
    }

    [Fact]
    public void NonFinite_Propagate_PoisonsTheRunningStatistics()
    {
        var bn = new BatchNorm1d<double>(3);
        bn.Forward(WithNaNInChannel1(4));
        Assert.True(double.IsNaN(bn.RunningMean![1]));
        Assert.Equal(1, bn.NumBatchesTracked);
    }

    [Fact]
    public void NonFinite_SkipUpdate_WarnsNamingTheChannels_AndChangesNoStatistic()
    {
        var bn = new BatchNorm1d<double>(3) { NonFinitePolicy = NonFinitePolicy.SkipUpdate };
        var warnings = new List<string>();
        void Handler(object? sender, NormWarningEventArgs e) { if (ReferenceEquals(sender, bn)) warnings.Add(e.Message); }
        NormWarnings.Raised += Handler;
        try
        {
            Tensor<double> y = bn.Forward(WithNaNInChannel1(4));
            Assert.True(double.IsNaN(y[1, 1]));
        }
        finally
        {
            NormWarnings.Raised -= Handler;
        }

        Assert.Equal([0.0, 0.0, 0.0], Values(bn.RunningMean!));
        Assert.Equal([1.0, 1.0, 1.0], Values(bn.RunningVar!));
        Assert.Equal(0, bn.NumBatchesTracked);
        Assert.Contains("channel 1 ", Assert.Single(warnings), StringComparison.Ordinal);
        Assert.Contains(bn.Explain([4, 3]).Reasons, r => r.StartsWith("NonFinitePolicy = SkipUpdate", StringComparison.Ordinal));
    }

    [Fact]
    public void NonFinite_Throw_NamesTheChannels_AndAFailingCallChangesNothing()
    {
        var bn = new BatchNorm1d<double>(3) { NonFinitePolicy = NonFinitePolicy.Throw };
        Tensor<double> good = Random<double>(1, 0, 1, 4, 3), dy = Random<double>(2, 0, 1, 4, 3);
        bn.Forward(good);
        double[] mean = Values(bn.RunningMean!), variance = Values(bn.RunningVar!);
        double[] dxBefore = Values(bn.Backward(dy));
        bn.ZeroGrad();
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(WithNaNInChannel1(4)));
        Assert.Contains("channel 1 ", error.Message, StringComparison.Ordinal);
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(variance, Values(bn.RunningVar!));
        Assert.Equal(1, bn.NumBatchesTracked);
        Assert.Equal(dxBefore, Values(bn.Backward(dy)));   // Backward still differentiates the last successful forward
    }

    [Fact]
    public void NonFinite_Throw_InstanceNorm_NamesTheChannelOfThePlane()
    {
        var layer = new InstanceNorm1d<double>(2, trackRunningStats: true) { NonFinitePolicy = NonFinitePolicy.Throw };
        Tensor<double> x = Random<double>(3, 0, 1, 2, 2, 4);
        x[1, 1, 2] = double.PositiveInfinity;
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(x));
        Assert.Contains("channel 1 ", error.Message, StringComparison.Ordinal);
        Assert.Equal([0.0, 0.0], Values(layer.RunningMean!));
        Assert.Equal([1.0, 1.0], Values(layer.RunningVar!));
    }

    [Fact]
    public void NonFinite_Guard_LeavesFiniteBatchesBitIdenticalToTheDefault()
    {
        var guarded = new BatchNorm2d<float>(3) { NonFinitePolicy = NonFinitePolicy.Throw };
        var plain = new BatchNorm2d<float>(3);
        for (int i = 0; i < 3; i++)
        {
            Tensor<float> x = Random(i, 5, 3, 2, 2);
            Assert.Equal(Values(plain.Forward(x)), Values(guarded.Forward(x)));
        }

        Assert.Equal(Values(plain.RunningMean!), Values(guarded.RunningMean!));
        Assert.Equal(Values(plain.RunningVar!), Values(guarded.RunningVar!));
        Assert.Equal(plain.NumBatchesTracked, guarded.NumBatchesTracked);
    }

    [Fact]
    public void FreezeStatistics_TrainingBackward_MatchesCentralFiniteDifferences()
    {
        const double step = 1e-6;
        double[] weight = [0.7, -1.3], bias = [0.2, 0.4];
        Tensor<double> dy = Random<double>(11, 0, 1, 3, 2, 4);
        BatchNorm1d<double> Make()
        {
            var bn = new BatchNorm1d<double>(2) { FreezeStatistics = true };
            weight.CopyTo(bn.Weight!.Data.GetSpan([0], 2));
            bias.CopyTo(bn.Bias!.Data.GetSpan([0], 2));
            bn.RunningMean![0] = 0.3;
            bn.RunningVar![1] = 2.5;
            return bn;
        }

        double[] x0 = Values(Random<double>(12, 0, 1, 3, 2, 4));
        double Loss(double[] xs) => Values(Make().Forward(Tensor.Create(xs, [3, 2, 4]))).Select((v, i) => v * Values(dy)[i]).Sum();
        BatchNorm1d<double> layer = Make();
        layer.Forward(Tensor.Create((double[])x0.Clone(), [3, 2, 4]));
        double[] dx = Values(layer.Backward(dy));
        for (int k = 0; k < x0.Length; k++)
        {
            double[] plus = (double[])x0.Clone(), minus = (double[])x0.Clone();
            plus[k] += step;
            minus[k] -= step;
            double numeric = (Loss(plus) - Loss(minus)) / (2 * step);
            Assert.True(Math.Abs(numeric - dx[k]) <= 1e-6 * (1 + Math.Abs(numeric)), $"dx[{k}]: numeric {numeric:R}, backward {dx[k]:R}");
        }
    }

    [Fact]
    public void Collection_SetPolicies_AppliesToEveryLayer_AndRejectsBadValuesFirst()
    {
        var a = new BatchNorm2d(2);
        var b = new InstanceNorm2d(2, trackRunningStats: true);
        var model = new NormModuleCollection { ["a"] = a, ["b"] = b };
        Assert.Throws<ArgumentOutOfRangeException>(() => model.SetPolicies(freezeStatistics: true, nonFinite: (NonFinitePolicy)9));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.SetPolicies(freezeStatistics: true, virtualBatchSize: 0));
        Assert.False(a.FreezeStatistics);
        model.SetPolicies(virtualBatchSize: 16);
        Assert.Equal(16, b.VirtualBatchSize);
        model.SetPolicies(freezeStatistics: true, smallBatch: SmallBatchPolicy.UseRunningStatistics);
        Assert.True(a.FreezeStatistics && b.FreezeStatistics);
        Assert.Equal(SmallBatchPolicy.UseRunningStatistics, b.SmallBatchPolicy);
        Assert.False(a.FreezeParameters);
    }
}
