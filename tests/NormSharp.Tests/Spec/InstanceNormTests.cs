using NormSharp.Tests.Reference;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 6: InstanceNorm on the shared base.</summary>
public class InstanceNormTests
{
    private const double FloatTolerance = 1e-5;

    /// <summary>Per-(sample, channel) statistics: the planes of an (N, C, S) tensor as N·C channels of one sample.</summary>
    private static (double[] Mean, double[] VarB, double[] VarU) PlaneStats<T>(Tensor<T> x) where T : System.Numerics.INumberBase<T>
    {
        var (n, c, s) = Nc(x.Lengths);
        return NaiveBatchNorm.Statistics(Values(x), 1, n * c, s);
    }

    private static double[] InstanceNormalized<T>(Tensor<T> x, double eps = 1e-5, double[]? weight = null, double[]? bias = null)
        where T : System.Numerics.INumberBase<T>
    {
        var (n, c, s) = Nc(x.Lengths);
        var (mean, varB, _) = PlaneStats(x);
        double[]? w = weight is null ? null : Enumerable.Range(0, n * c).Select(g => weight[g % c]).ToArray();
        double[]? b = bias is null ? null : Enumerable.Range(0, n * c).Select(g => bias[g % c]).ToArray();
        return NaiveBatchNorm.Normalize(Values(x), 1, n * c, s, mean, varB, eps, w, b);
    }

    /// <summary>Collects the warnings one layer raises while <paramref name="action"/> runs.</summary>
    private static List<string> WarningsOf(object layer, Action action)
    {
        var seen = new List<string>();
        void Handler(object? sender, NormWarningEventArgs e)
        {
            if (ReferenceEquals(sender, layer)) lock (seen) seen.Add(e.Message);
        }

        NormWarnings.Raised += Handler;
        try
        {
            action();
        }
        finally
        {
            NormWarnings.Raised -= Handler;
        }

        return seen;
    }

    [Fact]
    public void Construction_Defaults_NoAffineNoTrackingAndAnEmptyStateDict()
    {
        var layer = new InstanceNorm2d(3);
        Assert.False(layer.Affine);
        Assert.False(layer.TrackRunningStats);
        Assert.Null(layer.Weight);
        Assert.Null(layer.RunningMean);
        Assert.Null(layer.NumBatchesTracked);
        Assert.Empty(layer.StateDict());
        Assert.Equal(1e-5, layer.Eps);
        Assert.Equal(0.1, layer.Momentum);
    }

    [Theory]
    [InlineData(new[] { 3, 4, 7 })]
    [InlineData(new[] { 2, 4, 3, 5 })]
    [InlineData(new[] { 2, 4, 2, 3, 3 })]
    public void Train_NormalizesEachSampleAndChannelWithItsOwnMeanAndBiasedVariance(int[] shape)
    {
        NormBase<float> layer = shape.Length switch
        {
            3 => new InstanceNorm1d(4, affine: true),
            4 => new InstanceNorm2d(4, affine: true),
            _ => new InstanceNorm3d(4, affine: true),
        };
        double[] weight = [2, -1, 0.5, 3], bias = [1, 0, -2, 0.25];
        for (int c = 0; c < 4; c++)
        {
            layer.Weight!.Data[c] = (float)weight[c];
            layer.Bias!.Data[c] = (float)bias[c];
        }

        Tensor<float> x = Random<float>(5, 3, 2, shape.Select(l => (nint)l).ToArray());
        AllClose(InstanceNormalized(x, weight: weight, bias: bias), Values(layer.Forward(x)), FloatTolerance);
    }

    [Fact]
    public void Eval_WithoutTracking_IsTheSameAsTraining()
    {
        var layer = new InstanceNorm2d(3);
        Tensor<float> x = Random(2, 2, 3, 4, 4);
        double[] train = Values(layer.Forward(x));
        layer.Eval();
        Assert.Equal(train, Values(layer.Forward(x)));
    }

    [Theory]
    [InlineData(new[] { 3, 7 })]
    [InlineData(new[] { 3, 4, 5 })]
    [InlineData(new[] { 3, 2, 3, 4 })]
    public void NoBatchInput_IsTreatedAsABatchOfOne(int[] shape)
    {
        NormBase<double> layer = shape.Length switch
        {
            2 => new InstanceNorm1d<double>(3, affine: true, trackRunningStats: true),
            3 => new InstanceNorm2d<double>(3, affine: true, trackRunningStats: true),
            _ => new InstanceNorm3d<double>(3, affine: true, trackRunningStats: true),
        };
        NormBase<double> twin = shape.Length switch
        {
            2 => new InstanceNorm1d<double>(3, affine: true, trackRunningStats: true),
            3 => new InstanceNorm2d<double>(3, affine: true, trackRunningStats: true),
            _ => new InstanceNorm3d<double>(3, affine: true, trackRunningStats: true),
        };
        nint[] unbatched = shape.Select(l => (nint)l).ToArray();
        Tensor<double> x = Random<double>(9, 1, 2, unbatched);
        Tensor<double> y = layer.Forward(x);
        Tensor<double> yBatched = twin.Forward(Tensor.Reshape(x, [1, .. unbatched]));

        Assert.Equal(unbatched, y.Lengths.ToArray());
        Assert.Equal(Values(yBatched), Values(y));
        Assert.Equal(Values(twin.RunningMean!), Values(layer.RunningMean!));
        Assert.Equal(Values(twin.RunningVar!), Values(layer.RunningVar!));
        Tensor<double> dy = Random<double>(10, 0, 1, unbatched);
        Assert.Equal(Values(twin.Backward(Tensor.Reshape(dy, [1, .. unbatched]))), Values(layer.Backward(dy)));
        Assert.Equal(Values(twin.Weight!.Grad!), Values(layer.Weight!.Grad!));
    }

    [Fact]
    public void OneSpatialValue_WithInputStatistics_IsAnErrorNamingTheBatchedSize()
    {
        var layer = new InstanceNorm1d(3);
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, 2, 3, 1)));
        Assert.Equal("Expected more than 1 spatial element when training, got input size [2, 3, 1]", e.Message);
        layer.Eval();
        e = Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, 3, 1)));
        Assert.Equal("Expected more than 1 spatial element when training, got input size [1, 3, 1]", e.Message);
    }

    [Fact]
    public void OneSpatialValue_WithRunningStatistics_IsFine()
    {
        var layer = new InstanceNorm2d(3, trackRunningStats: true);
        layer.Eval();
        Tensor<float> y = layer.Forward(Random(1, 2, 3, 1, 1));
        Assert.Equal([2, 3, 1, 1], y.Lengths.ToArray());
    }

    [Theory]
    [InlineData(new[] { 2, 4, 5 }, 1)]
    [InlineData(new[] { 4, 5 }, 0)]
    public void ChannelMismatch_WithAffine_IsAnError(int[] shape, int dim)
    {
        var layer = new InstanceNorm1d(3, affine: true);
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, shape.Select(l => (nint)l).ToArray())));
        Assert.Equal($"expected input's size at dim={dim} to match num_features (3), but got: 4.", e.Message);
    }

    [Fact]
    public void ChannelMismatch_WithoutAffine_IsAWarningAndTheInputIsNormalized()
    {
        var layer = new InstanceNorm1d(3);
        Tensor<float> x = Random(4, 2, 4, 5);
        Tensor<float>? y = null;
        List<string> warnings = WarningsOf(layer, () => y = layer.Forward(x));
        Assert.Equal(["input's size at dim=1 does not match num_features. You can silence this warning by not passing in num_features, which is not used because affine=False"], warnings);
        AllClose(InstanceNormalized(x), Values(y!), FloatTolerance);
        Assert.NotNull(layer.Explain(x.Lengths).Warning);
    }

    [Fact]
    public void ChannelMismatch_WithoutAffineButWithRunningStats_WarnsThenFailsOnTheRepeatedBufferSize()
    {
        var layer = new InstanceNorm1d(3, trackRunningStats: true);
        ArgumentException? error = null;
        List<string> warnings = WarningsOf(layer, () => error = Assert.Throws<ArgumentException>(() => layer.Forward(Random(4, 2, 4, 5))));
        Assert.Single(warnings);
        Assert.Equal("running_mean should contain 8 elements not 6", error!.Message);
    }

    [Fact]
    public void AffineSetToFalse_TurnsTheChannelErrorIntoAWarning_ThenWeightSizeFails()
    {
        var layer = new InstanceNorm1d(3, affine: true) { Affine = false };
        ArgumentException? error = null;
        List<string> warnings = WarningsOf(layer, () => error = Assert.Throws<ArgumentException>(() => layer.Forward(Random(4, 2, 4, 5))));
        Assert.Single(warnings);
        Assert.Equal("weight should contain 8 elements not 6", error!.Message);
    }

    [Fact]
    public void Train_WithTracking_RunningStatsAreTheBatchAverageOfPerInstanceEmaWithUnbiasedVariance()
    {
        var layer = new InstanceNorm1d<double>(4, trackRunningStats: true);
        layer.RunningMean![1] = 2.0;
        layer.RunningVar![2] = 3.0;
        double[] rm0 = Values(layer.RunningMean), rv0 = Values(layer.RunningVar);
        Tensor<double> x = Random<double>(3, 1, 2, 3, 4, 10);
        var (mean, _, varU) = PlaneStats(x);
        layer.Forward(x);
        double[] expectedMean = new double[4], expectedVar = new double[4];
        for (int c = 0; c < 4; c++)
        {
            expectedMean[c] = Enumerable.Range(0, 3).Average(n => 0.9 * rm0[c] + 0.1 * mean[n * 4 + c]);
            expectedVar[c] = Enumerable.Range(0, 3).Average(n => 0.9 * rv0[c] + 0.1 * varU[n * 4 + c]);
        }

        AllClose(expectedMean, Values(layer.RunningMean), 1e-12);
        AllClose(expectedVar, Values(layer.RunningVar), 1e-12);
        Assert.Equal(0L, layer.NumBatchesTracked);
    }

    [Fact]
    public void Eval_WithTracking_NormalizesWithRunningStatsAndKeepsThem()
    {
        var layer = new InstanceNorm2d<double>(2, trackRunningStats: true);
        layer.RunningMean![0] = 1.5;
        layer.RunningVar![1] = 4.0;
        layer.Eval();
        Tensor<double> x = Random<double>(4, 0, 1, 3, 2, 3, 3);
        double[] y = Values(layer.Forward(x));
        var expected = NaiveBatchNorm.Normalize(Values(x), 3, 2, 9, [1.5, 0], [1, 4.0], 1e-5, null, null);
        AllClose(expected, y, 1e-12);
        Assert.Equal([1.5, 0], Values(layer.RunningMean));
        Assert.Equal([1, 4.0], Values(layer.RunningVar));
        Assert.Equal(StatisticsSource.Running, layer.Explain(x.Lengths).NormalizeWith);
    }

    [Fact]
    public void Train_TrackingSetToFalse_StillUpdatesTheBuffers()
    {
        var layer = new InstanceNorm1d<double>(2, trackRunningStats: true) { TrackRunningStats = false };
        layer.Forward(Random<double>(5, 3, 1, 2, 2, 6));
        Assert.NotEqual([0.0, 0.0], Values(layer.RunningMean!));
    }

    [Fact]
    public void Eval_TrackingSetToFalse_UsesInstanceStatsAndUpdatesTheBuffersEvenInEval()
    {
        var layer = new InstanceNorm1d<double>(2, trackRunningStats: true) { TrackRunningStats = false };
        layer.Eval();
        Tensor<double> x = Random<double>(6, 3, 1, 2, 2, 6);
        AllClose(InstanceNormalized(x), Values(layer.Forward(x)), 1e-12);
        Assert.NotEqual([0.0, 0.0], Values(layer.RunningMean!));
        ForwardPlan plan = layer.Explain(x.Lengths);
        Assert.Equal(StatisticsSource.Instance, plan.NormalizeWith);
        Assert.True(plan.UpdatesRunningStatistics);
    }

    [Fact]
    public void BuiltWithoutTracking_FlagSetTrue_TrainUsesInstanceStats_EvalIsAnError()
    {
        var layer = new InstanceNorm1d(3) { TrackRunningStats = true };
        Tensor<float> x = Random(7, 2, 3, 5);
        AllClose(InstanceNormalized(x), Values(layer.Forward(x)), FloatTolerance);
        layer.Eval();
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(x));
        Assert.Equal("Expected running_mean and running_var to be defined when use_input_stats is false", e.Message);
    }

    [Fact]
    public void MomentumNull_MeansFactorZero_RunningStatsStay()
    {
        var layer = new InstanceNorm1d<double>(3, momentum: null, trackRunningStats: true);
        layer.Forward(Random<double>(8, 5, 2, 4, 3, 5));
        Assert.Equal([0.0, 0.0, 0.0], Values(layer.RunningMean!));
        Assert.Equal([1.0, 1.0, 1.0], Values(layer.RunningVar!));
        Assert.Equal(0.0, layer.Explain([4, 3, 5]).Factor);
    }

    [Fact]
    public void Counter_IsNeverUsedOrIncremented()
    {
        var layer = new InstanceNorm2d(3, trackRunningStats: true);
        for (int i = 0; i < 3; i++) layer.Forward(Random(i, 2, 3, 2, 2));
        Assert.Equal(0L, layer.NumBatchesTracked);
        Assert.False(layer.Explain([2, 3, 2, 2]).IncrementsCounter);
    }

    [Theory]
    [InlineData(1, new[] { 4, 3, 2, 2 }, "expected 2D or 3D input (got 4D input)")]
    [InlineData(2, new[] { 3, 4 }, "expected 3D or 4D input (got 2D input)")]
    [InlineData(3, new[] { 2, 3, 4 }, "expected 4D or 5D input (got 3D input)")]
    public void WrongRank_IsAnErrorWithPyTorchsText(int dims, int[] shape, string message)
    {
        NormBase<float> layer = dims switch { 1 => new InstanceNorm1d(3), 2 => new InstanceNorm2d(3), _ => new InstanceNorm3d(3) };
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, shape.Select(l => (nint)l).ToArray())));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void FailingForward_ChangesNothing()
    {
        var layer = new InstanceNorm1d<double>(3, affine: true, trackRunningStats: true);
        layer.Forward(Random<double>(1, 0, 1, 2, 3, 4));
        StateDict before = layer.StateDict();
        Assert.Throws<ArgumentException>(() => layer.Forward(Random<double>(2, 0, 1, 2, 3, 1)));
        Assert.Throws<ArgumentException>(() => layer.Forward(Random<double>(2, 0, 1, 2, 4, 5)));
        StateDict after = layer.StateDict();
        foreach (string key in before.Keys) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());
    }

    [Fact]
    public void EmptyBatch_WithTracking_MakesRunningStatsNaN_AsPyTorchsAverageOfNothing()
    {
        var layer = new InstanceNorm1d(3, trackRunningStats: true);
        Tensor<float> y = layer.Forward(Tensor.CreateFromShape<float>([0, 3, 4]));
        Assert.Equal(0, y.FlattenedLength);
        Assert.All(Values(layer.RunningMean!), v => Assert.True(double.IsNaN(v)));
        var spatialEmpty = new InstanceNorm1d(3, trackRunningStats: true);
        spatialEmpty.Forward(Tensor.CreateFromShape<float>([2, 3, 0]));
        Assert.Equal([0.0, 0.0, 0.0], Values(spatialEmpty.RunningMean!));

        // libtorch fails on an empty batch when weight and bias exist; NormSharp gives the same error.
        var affine = new InstanceNorm1d(3, affine: true);
        var e = Assert.Throws<ArgumentException>(() => affine.Forward(Tensor.CreateFromShape<float>([0, 3, 4])));
        Assert.Equal("select(): index 0 out of range for tensor of size [0] at dimension 0", e.Message);
    }

    [Fact]
    public void EmptyInput_WithMismatchedRunningStats_FailsAsLibtorchsWriteBack()
    {
        Tensor<float> rm = Tensor.Create(new float[18], [18]), rv = Tensor.Create(new float[18], [18]);
        var e = Assert.Throws<ArgumentException>(() => Functional.InstanceNorm(Tensor.CreateFromShape<float>([0, 17, 5]), rm, rv));
        Assert.Equal("The size of tensor a (18) must match the size of tensor b (17) at non-singleton dimension 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.InstanceNorm(Tensor.CreateFromShape<float>([2, 17, 0]), rm, rv));
        Assert.Equal("shape '[2, 17]' is invalid for input of size 36", e.Message);
        Assert.All(Values(rm), v => Assert.Equal(0.0, v));

        // One channel broadcasts: the average of nothing (NaN) fills the whole buffer, as in libtorch.
        Functional.InstanceNorm(Tensor.CreateFromShape<float>([0, 1, 5]), rm, rv);
        Assert.All(Values(rm), v => Assert.True(double.IsNaN(v)));
    }

    [Fact]
    public void Functional_InstanceNorm_MatchesTheModule()
    {
        var layer = new InstanceNorm2d(3, affine: true, trackRunningStats: true);
        layer.Weight!.Data[1] = 3f;
        Tensor<float> runningMean = Tensor.Create(new float[3], [3]), runningVar = Tensor.Create(new float[] { 1, 1, 1 }, [3]);
        Tensor<float> x = Random(3, 2, 3, 4, 5);
        Tensor<float> y = Functional.InstanceNorm(x, runningMean, runningVar, layer.Weight.Data, layer.Bias!.Data, useInputStats: true);
        Assert.Equal(Values(layer.Forward(x)), Values(y));
        Assert.Equal(Values(layer.RunningMean!), Values(runningMean));
        Assert.Equal(Values(layer.RunningVar!), Values(runningVar));
    }

    [Fact]
    public void ChannelsLastInput_GivesTheRowMajorResult()
    {
        Tensor<float> x = Random(12, 2, 3, 4, 5);
        // channels-last storage of the same logical tensor
        var data = Values(x);
        var cl = new float[data.Length];
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
                for (int s = 0; s < 20; s++) cl[(n * 20 + s) * 3 + c] = (float)data[(n * 3 + c) * 20 + s];
        Tensor<float> channelsLast = Tensor.Create(cl, 0, [2, 3, 4, 5], [60, 1, 15, 3]);
        Assert.Equal(Values(new InstanceNorm2d(3).Forward(x)), Values(new InstanceNorm2d(3).Forward(channelsLast)));
    }

    [Fact]
    public void LoadingRunningStats_IntoANonTrackingInstanceNorm_DropsThemWithAWarning()
    {
        var source = new InstanceNorm2d(3, affine: true, trackRunningStats: true);
        var target = new InstanceNorm2d(3, affine: true);
        source.Weight!.Data[0] = 5f;
        LoadStateDictResult? result = null;
        List<string> warnings = WarningsOf(target, () => result = target.LoadStateDict(source.StateDict(), strict: true));
        Assert.Empty(result!.UnexpectedKeys);
        Assert.Equal(5f, target.Weight!.Data[0]);
        string warning = Assert.Single(warnings);
        Assert.StartsWith("Dropped running stats buffer(s) \"running_mean\" and \"running_var\" and \"num_batches_tracked\" for InstanceNorm2d", warning);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void Backward_MatchesCentralFiniteDifferences(bool training, bool tracking)
    {
        var layer = new InstanceNorm2d<double>(3, affine: true, trackRunningStats: tracking) { Momentum = 0.0 };
        layer.Train(training);
        var random = new Random(3);
        for (int c = 0; c < 3; c++)
        {
            layer.Weight!.Data[c] = 0.5 + random.NextDouble();
            layer.Bias!.Data[c] = random.NextDouble() - 0.5;
            if (tracking)
            {
                layer.RunningMean![c] = random.NextDouble();
                layer.RunningVar![c] = 0.5 + random.NextDouble();
            }
        }

        Tensor<double> x = Random<double>(17, 0.3, 1.5, 2, 3, 2, 3);
        Tensor<double> dy = Random<double>(18, 0, 1, 2, 3, 2, 3);
        double[] dyValues = Values(dy);
        layer.Forward(x);
        double[] dx = Values(layer.Backward(dy));
        double[] dw = Values(layer.Weight!.Grad!), db = Values(layer.Bias!.Grad!);

        double Loss(Tensor<double> input) => Values(layer.Forward(input)).Zip(dyValues).Sum(p => p.First * p.Second);
        const double h = 1e-6;
        double[] xs = Values(x);
        for (int i = 0; i < xs.Length; i++)
        {
            double[] plus = (double[])xs.Clone(), minus = (double[])xs.Clone();
            plus[i] += h;
            minus[i] -= h;
            double numeric = (Loss(Tensor.Create(plus, x.Lengths)) - Loss(Tensor.Create(minus, x.Lengths))) / (2 * h);
            Assert.True(Math.Abs(numeric - dx[i]) < 1e-6, $"dx[{i}]: numeric {numeric}, analytic {dx[i]}");
        }

        for (int c = 0; c < 3; c++)
        {
            foreach (var (parameter, analytic) in new[] { (layer.Weight!.Data, dw[c]), (layer.Bias!.Data, db[c]) })
            {
                double saved = parameter[c];
                parameter[c] = saved + h;
                double up = Loss(x);
                parameter[c] = saved - h;
                double down = Loss(x);
                parameter[c] = saved;
                Assert.True(Math.Abs((up - down) / (2 * h) - analytic) < 1e-6, $"parameter gradient of channel {c}");
            }
        }
    }
}
