using NormSharp.Tests.Reference;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 2: the forward, step by step, and attribute changes on a live instance.</summary>
public class ForwardTests
{
    private const double FloatTolerance = 1e-5;

    private static (double[] Mean, double[] VarB, double[] VarU) Stats(Tensor<float> x)
    {
        var (n, c, s) = Nc(x.Lengths);
        return NaiveBatchNorm.Statistics(Values(x), n, c, s);
    }

    private static double[] Normalized(Tensor<float> x, double[] mean, double[] variance, double eps = 1e-5,
                                       double[]? weight = null, double[]? bias = null)
    {
        var (n, c, s) = Nc(x.Lengths);
        return NaiveBatchNorm.Normalize(Values(x), n, c, s, mean, variance, eps, weight, bias);
    }

    [Theory]
    [InlineData(new[] { 8, 3 })]
    [InlineData(new[] { 4, 3, 7 })]
    public void Train_BatchNorm1d_NormalizesWithBatchMeanAndBiasedVariance(int[] shape)
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> x = Random(7, shape.Select(l => (nint)l).ToArray());
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), FloatTolerance);
    }

    [Fact]
    public void Train_BatchNorm2dAnd3d_StatisticsTakenOverBatchAndSpatialDimensions()
    {
        Tensor<float> x2 = Random(3, 2, 4, 3, 5);
        var (m2, v2, _) = Stats(x2);
        AllClose(Normalized(x2, m2, v2), Values(new BatchNorm2d(4).Forward(x2)), FloatTolerance);

        Tensor<float> x3 = Random(4, 2, 3, 2, 3, 4);
        var (m3, v3, _) = Stats(x3);
        AllClose(Normalized(x3, m3, v3), Values(new BatchNorm3d(3).Forward(x3)), FloatTolerance);
    }

    [Fact]
    public void Train_WithMomentum_RunningStatsAreEmaOfMeanAndUnbiasedVariance()
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> x = Random(11, 8, 3);
        var (mean, _, varU) = Stats(x);
        bn.Forward(x);
        AllClose(mean.Select(m => 0.1 * m).ToArray(), Values(bn.RunningMean!), 1e-6);
        AllClose(varU.Select(v => 0.9 + 0.1 * v).ToArray(), Values(bn.RunningVar!), 1e-6);
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Train_MomentumNull_RunningStatsArePlainAverageOfBatchStatistics()
    {
        var bn = new BatchNorm1d(3, momentum: null);
        var means = new List<double[]>();
        var vars = new List<double[]>();
        for (int k = 0; k < 3; k++)
        {
            Tensor<float> x = Random<float>(20 + k, k, 1 + k, 8, 3);
            var (mean, _, varU) = Stats(x);
            means.Add(mean);
            vars.Add(varU);
            bn.Forward(x);
        }

        AllClose(Enumerable.Range(0, 3).Select(c => means.Average(m => m[c])).ToArray(), Values(bn.RunningMean!), 1e-5);
        AllClose(Enumerable.Range(0, 3).Select(c => vars.Average(v => v[c])).ToArray(), Values(bn.RunningVar!), 1e-5);
        Assert.Equal(3L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Train_MomentumSetToNullAfterFourBatches_NextFactorIsOneFifth()
    {
        var bn = new BatchNorm1d<double>(3);
        for (int k = 0; k < 4; k++) bn.Forward(Random<double>(30 + k, 0, 1, 8, 3));
        double[] before = Values(bn.RunningMean!);
        bn.Momentum = null;
        Tensor<double> x = Random<double>(40, 2, 1, 8, 3);
        Assert.Equal(0.2, bn.Explain(x.Lengths).Factor);
        bn.Forward(x);
        var (n, c, s) = Nc(x.Lengths);
        double[] mean = NaiveBatchNorm.Statistics(Values(x), n, c, s).Mean;
        AllClose(NaiveBatchNorm.Blend(before, mean, 0.2), Values(bn.RunningMean!), 1e-12);
    }

    [Fact]
    public void Train_MomentumOne_RunningStatsBecomeBatchMeanAndUnbiasedVariance()
    {
        var bn = new BatchNorm1d(1, momentum: 1.0);
        bn.Forward(Floats([1f, 3f], 2, 1));
        Assert.Equal([2.0], Values(bn.RunningMean!));
        Assert.Equal([2.0], Values(bn.RunningVar!));
    }

    [Fact]
    public void Train_MomentumZeroWithInfiniteInput_RunningStatsBecomeNaN()
    {
        var bn = new BatchNorm1d(1, momentum: 0.0);
        bn.Forward(Floats([1f, float.PositiveInfinity], 2, 1));
        Assert.True(float.IsNaN(bn.RunningMean![0]));
        Assert.True(float.IsNaN(bn.RunningVar![0]));
    }

    [Fact]
    public void Train_ConstantChannel_OutputIsNearZeroAndRunningVarDecays()
    {
        var bn = new BatchNorm1d(1);
        Tensor<float> y = bn.Forward(Floats([3f, 3f, 3f, 3f], 4, 1));
        Assert.All(Values(y), v => Assert.True(Math.Abs(v) < 1e-3));
        Assert.Equal(0.9, bn.RunningVar![0], 6);
    }

    [Fact]
    public void Train_LargeMeanSmallSpread_VarianceStaysAccurate()
    {
        // Values around 1e4 with std 1: a one-pass E[x²] - E[x]² in float would lose the variance entirely.
        var bn = new BatchNorm1d(2, momentum: 1.0);
        Tensor<float> x = Random<float>(5, 1e4, 1.0, 512, 2);
        var (_, _, varU) = Stats(x);
        bn.Forward(x);
        for (int c = 0; c < 2; c++) Assert.InRange(bn.RunningVar![c] / varU[c], 1 - 1e-3, 1 + 1e-3);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), 2e-3);
    }

    [Fact]
    public void Eval_WithBuffers_NormalizesWithRunningStatistics()
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> warmup = Random(1, 16, 3);
        bn.Forward(warmup);
        bn.Eval();
        double[] rm = Values(bn.RunningMean!), rv = Values(bn.RunningVar!);
        Tensor<float> x = Random(2, 5, 3);
        AllClose(Normalized(x, rm, rv), Values(bn.Forward(x)), FloatTolerance);
        Assert.Equal(rm, Values(bn.RunningMean!));
        Assert.Equal(rv, Values(bn.RunningVar!));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Eval_WithBuffers_OneValuePerChannelIsAccepted()
    {
        var bn = new BatchNorm1d(3);
        bn.Eval();
        AllClose([1 / Math.Sqrt(1 + 1e-5), 2 / Math.Sqrt(1 + 1e-5), 3 / Math.Sqrt(1 + 1e-5)],
                 Values(bn.Forward(Floats([1f, 2f, 3f], 1, 3))), 1e-6);
    }

    [Fact]
    public void Eval_WithoutBuffers_NormalizesWithBatchStatisticsLikeTraining()
    {
        var bn = new BatchNorm1d(3, trackRunningStats: false);
        bn.Eval();
        Tensor<float> x = Random(3, 6, 3);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), FloatTolerance);
    }

    [Fact]
    public void Train_TrackingDisabledAfterConstruction_BatchStatisticsAndNothingUpdated()
    {
        var bn = new BatchNorm1d(4);
        bn.Forward(Random(1, 32, 4));
        double[] rm = Values(bn.RunningMean!), rv = Values(bn.RunningVar!);
        bn.TrackRunningStats = false;
        Tensor<float> x = Random(2, 32, 4);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), FloatTolerance);
        Assert.Equal(rm, Values(bn.RunningMean!));
        Assert.Equal(rv, Values(bn.RunningVar!));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Eval_TrackingDisabledAfterConstruction_StillUsesRunningStatistics()
    {
        var bn = new BatchNorm1d(4);
        bn.Forward(Random(1, 32, 4));
        bn.TrackRunningStats = false;
        bn.Eval();
        double[] rm = Values(bn.RunningMean!), rv = Values(bn.RunningVar!);
        Tensor<float> x = Random(2, 32, 4);
        AllClose(Normalized(x, rm, rv), Values(bn.Forward(x)), FloatTolerance);
    }

    [Fact]
    public void Train_TrackingEnabledOnLayerBuiltWithout_BatchStatisticsNoErrorNoBuffers()
    {
        var bn = new BatchNorm1d(3, trackRunningStats: false) { TrackRunningStats = true };
        Tensor<float> x = Random(4, 8, 3);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), FloatTolerance);
        Assert.Null(bn.RunningMean);
        Assert.Null(bn.NumBatchesTracked);
    }

    [Fact]
    public void Eval_TrackingEnabledOnLayerBuiltWithout_BatchStatisticsAndOneValueError()
    {
        var bn = new BatchNorm1d(3, trackRunningStats: false) { TrackRunningStats = true };
        bn.Eval();
        Tensor<float> x = Random(4, 8, 3);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), FloatTolerance);
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Random(5, 1, 3)));
        Assert.Equal("Expected more than 1 value per channel when training, got input size [1, 3]", e.Message);
    }

    [Fact]
    public void Affine_WeightAndBiasScaleAndShiftTheNormalizedOutput()
    {
        var bn = new BatchNorm2d(2);
        bn.Weight!.Data[0] = 2f;
        bn.Weight.Data[1] = -1f;
        bn.Bias!.Data[0] = 0.5f;
        bn.Bias.Data[1] = 3f;
        Tensor<float> x = Random(6, 3, 2, 2, 2);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB, 1e-5, [2, -1], [0.5, 3]), Values(bn.Forward(x)), FloatTolerance);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Affine_ChangedAfterConstruction_HasNoEffectOnTheOutput(bool builtAffine)
    {
        Tensor<float> x = Random(8, 6, 3);
        var reference = new BatchNorm1d(3, affine: builtAffine);
        var changed = new BatchNorm1d(3, affine: builtAffine);
        if (builtAffine)
        {
            reference.Weight!.Data.Fill(3f);
            changed.Weight!.Data.Fill(3f);
        }

        changed.Affine = !builtAffine;
        Assert.Equal(Values(reference.Forward(x)), Values(changed.Forward(x)));
    }

    [Fact]
    public void Eps_ChangedOnLiveInstance_TakesEffectAtNextForward()
    {
        var bn = new BatchNorm1d(1);
        bn.Eval();
        bn.Eps = 1.0;
        Tensor<float> y = bn.Forward(Floats([1f, 1f], 2, 1));
        Assert.Equal(0.70710677f, y[0, 0], 6);
    }

    [Fact]
    public void Momentum_ChangedOnLiveInstance_TakesEffectAtNextForward()
    {
        var bn = new BatchNorm1d(1) { Momentum = 0.5 };
        bn.Forward(Floats([1f, 3f], 2, 1));
        Assert.Equal(1.0, bn.RunningMean![0], 6);
    }

    [Fact]
    public void Training_SetByTrainAndEval_TakesEffectAtNextForward()
    {
        var bn = new BatchNorm1d(2);
        Tensor<float> x = Random(9, 4, 2);
        bn.Eval();
        Tensor<float> evalOut = bn.Forward(x);
        bn.Train();
        Tensor<float> trainOut = bn.Forward(x);
        Assert.NotEqual(Values(evalOut), Values(trainOut));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void WeightData_WrittenByTheUser_IsWhatTheNextForwardUses()
    {
        var bn = new BatchNorm1d(2);
        Tensor<float> x = Random(10, 4, 2);
        Tensor<float> before = bn.Forward(x);
        bn.Weight!.Data.Fill(2f);
        Tensor<float> after = bn.Forward(x);
        AllClose(Values(before).Select(v => 2 * v).ToArray(), Values(after), 1e-5);
    }

    [Fact]
    public void RunningMean_WrittenByTheUser_IsWhatEvalUses()
    {
        var bn = new BatchNorm1d(1);
        bn.Eval();
        bn.RunningMean![0] = 10f;
        Assert.Equal(-9.0, bn.Forward(Floats([1f, 1f], 2, 1))[0, 0], 4);
    }

    [Fact]
    public void EmptyBatch_Train_EmptyOutputBuffersUnchangedCounterIncremented()
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> y = bn.Forward(Tensor.CreateFromShape<float>([0, 3]));
        Assert.Equal([0, 3], y.Lengths.ToArray());
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
        Assert.Equal([1.0, 1, 1], Values(bn.RunningVar!));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void EmptyBatch_Eval_EmptyOutputAndNothingChanges()
    {
        var bn = new BatchNorm2d(3);
        bn.Eval();
        Tensor<float> y = bn.Forward(Tensor.CreateFromShape<float>([0, 3, 4, 4]));
        Assert.Equal(0, y.FlattenedLength);
        Assert.Equal(0L, bn.NumBatchesTracked);
    }

    [Fact]
    public void NonContiguousInput_GivesTheSameResultAsItsContiguousCopy()
    {
        float[] data = Values(Random(12, 4, 3, 5)).Select(v => (float)v).ToArray();
        // The same logical (4, 3, 5) tensor, stored as (4, 5, 3) in memory (channels last).
        var stored = new float[data.Length];
        for (int n = 0; n < 4; n++)
            for (int c = 0; c < 3; c++)
                for (int l = 0; l < 5; l++) stored[(n * 5 + l) * 3 + c] = data[(n * 3 + c) * 5 + l];
        Tensor<float> strided = Tensor.Create(stored, [4, 3, 5], [15, 1, 3]);
        Tensor<float> contiguous = Tensor.Create(data, [4, 3, 5]);
        Assert.Equal(Values(new BatchNorm1d(3).Forward(contiguous)), Values(new BatchNorm1d(3).Forward(strided)));
    }

    [Fact]
    public void ChannelMismatch_NonAffineWithTrackingOffInTraining_IsAcceptedThenEvalFails()
    {
        var bn = new BatchNorm1d(3, affine: false) { TrackRunningStats = false };
        Tensor<float> x = Random(13, 4, 5);
        var (mean, varB, _) = Stats(x);
        AllClose(Normalized(x, mean, varB), Values(bn.Forward(x)), FloatTolerance);
        bn.Eval();
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(x));
        Assert.Equal("running_mean should contain 5 elements not 3", e.Message);
    }

    [Theory]
    [InlineData(new[] { 4, 64, 5, 5 })]
    [InlineData(new[] { 300, 70 })]
    [InlineData(new[] { 2, 130, 3 })]
    public void ManyChannels_FloatAndDouble_MatchTheReference(int[] dims)
    {
        // Many channels exercise the per-thread scratch arrays (a float and a double layer share them).
        nint[] shape = dims.Select(d => (nint)d).ToArray();
        Tensor<double> xd = Random<double>(15, 2, 3, shape);
        var (n, c, s) = Nc(xd.Lengths);
        var (mean, varB, _) = NaiveBatchNorm.Statistics(Values(xd), n, c, s);
        double[] expected = NaiveBatchNorm.Normalize(Values(xd), n, c, s, mean, varB, 1e-5);
        BatchNorm<double> bn = shape.Length == 4 ? new BatchNorm2d<double>(c) : new BatchNorm1d<double>(c);
        AllClose(expected, Values(bn.Forward(xd)), 1e-12);
        Tensor<float> xf = Tensor.Create(Values(xd).Select(v => (float)v).ToArray(), shape);
        BatchNorm<float> bf = shape.Length == 4 ? new BatchNorm2d(c) : new BatchNorm1d(c);
        AllClose(expected, Values(bf.Forward(xf)), 1e-5);
        AllClose(Values(bn.RunningVar!), Values(bf.RunningVar!), 1e-5);
    }

    [Fact]
    public void Double_TrainAndEval_MatchTheReferenceToMachinePrecision()
    {
        var bn = new BatchNorm2d<double>(3, affine: true);
        Tensor<double> x = Random<double>(14, 0, 1, 2, 3, 4, 3);
        var (n, c, s) = Nc(x.Lengths);
        var (mean, varB, varU) = NaiveBatchNorm.Statistics(Values(x), n, c, s);
        AllClose(NaiveBatchNorm.Normalize(Values(x), n, c, s, mean, varB, 1e-5), Values(bn.Forward(x)), 1e-12);
        bn.Eval();
        double[] rm = mean.Select(m => 0.1 * m).ToArray(), rv = varU.Select(v => 0.9 + 0.1 * v).ToArray();
        AllClose(NaiveBatchNorm.Normalize(Values(x), n, c, s, rm, rv, 1e-5), Values(bn.Forward(x)), 1e-12);
    }
}
