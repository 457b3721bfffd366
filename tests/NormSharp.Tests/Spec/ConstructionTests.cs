using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 1: construction, and the resets.</summary>
public class ConstructionTests
{
    [Fact]
    public void Construct_WithDefaults_HasPyTorchDefaultsAndFreshState()
    {
        var bn = new BatchNorm1d(3);
        Assert.Equal(3, bn.NumFeatures);
        Assert.Equal(1e-5, bn.Eps);
        Assert.Equal(0.1, bn.Momentum);
        Assert.True(bn.Affine);
        Assert.True(bn.TrackRunningStats);
        Assert.True(bn.Training);
        Assert.Equal([1.0, 1, 1], Values(bn.Weight!.Data));
        Assert.Equal([0.0, 0, 0], Values(bn.Bias!.Data));
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
        Assert.Equal([1.0, 1, 1], Values(bn.RunningVar!));
        Assert.Equal(0L, bn.NumBatchesTracked);
        Assert.Null(bn.Weight.Grad);
    }

    [Fact]
    public void Construct_WithoutAffine_WeightAndBiasAreNull()
    {
        var bn = new BatchNorm2d(3, affine: false);
        Assert.Null(bn.Weight);
        Assert.Null(bn.Bias);
        Assert.NotNull(bn.RunningMean);
    }

    [Fact]
    public void Construct_WithoutTracking_AllThreeBuffersAreNull()
    {
        var bn = new BatchNorm3d(3, trackRunningStats: false);
        Assert.Null(bn.RunningMean);
        Assert.Null(bn.RunningVar);
        Assert.Null(bn.NumBatchesTracked);
        Assert.NotNull(bn.Weight);
    }

    [Fact]
    public void Construct_Double_IsSupportedWithTheSameDefaults()
    {
        var bn = new BatchNorm2d<double>(4, eps: 1e-3, momentum: null, affine: false, trackRunningStats: true);
        Assert.Equal(1e-3, bn.Eps);
        Assert.Null(bn.Momentum);
        Assert.Equal([1.0, 1, 1, 1], Values(bn.RunningVar!));
    }

    [Fact]
    public void Construct_Half_IsNotSupported()
    {
        Assert.Throws<NotSupportedException>(() => new BatchNorm1d<Half>(3));
    }

    [Fact]
    public void Construct_NegativeFeatures_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm1d(-1));
    }

    [Fact]
    public void TrainAndEval_SwitchTheMode_TrainFalseIsEval()
    {
        var bn = new BatchNorm1d(3);
        bn.Eval();
        Assert.False(bn.Training);
        bn.Train();
        Assert.True(bn.Training);
        bn.Train(false);
        Assert.False(bn.Training);
    }

    [Fact]
    public void ResetRunningStats_ZeroesMeanAndCounter_FillsVarianceWithOne()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 8, 3));
        bn.Forward(Random(2, 8, 3));
        bn.ResetRunningStats();
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
        Assert.Equal([1.0, 1, 1], Values(bn.RunningVar!));
        Assert.Equal(0L, bn.NumBatchesTracked);
    }

    [Fact]
    public void ResetRunningStats_WhileTrackingIsFalse_DoesNothingEvenThoughBuffersExist()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 8, 3));
        double[] mean = Values(bn.RunningMean!), variance = Values(bn.RunningVar!);
        bn.TrackRunningStats = false;
        bn.ResetRunningStats();
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(variance, Values(bn.RunningVar!));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void ResetRunningStats_TrackingSetTrueOnLayerBuiltWithout_ThrowsInvalidOperation()
    {
        var bn = new BatchNorm1d(3, trackRunningStats: false) { TrackRunningStats = true };
        var e = Assert.Throws<InvalidOperationException>(bn.ResetRunningStats);
        Assert.Contains("zero_", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ResetParameters_WithAffine_ResetsWeightBiasAndRunningStats()
    {
        var bn = new BatchNorm1d(3);
        bn.Weight!.Data.Fill(5f);
        bn.Bias!.Data.Fill(-2f);
        bn.Forward(Random(1, 8, 3));
        bn.ResetParameters();
        Assert.Equal([1.0, 1, 1], Values(bn.Weight.Data));
        Assert.Equal([0.0, 0, 0], Values(bn.Bias.Data));
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
        Assert.Equal(0L, bn.NumBatchesTracked);
    }

    [Fact]
    public void ResetParameters_AfterAffineSetFalse_LeavesWeightAndBias()
    {
        var bn = new BatchNorm1d(3);
        bn.Weight!.Data.Fill(5f);
        bn.Affine = false;
        bn.ResetParameters();
        Assert.Equal([5.0, 5, 5], Values(bn.Weight.Data));
    }

    [Fact]
    public void ResetParameters_AffineSetTrueOnLayerBuiltWithout_ThrowsAndChangesNothing()
    {
        var bn = new BatchNorm1d(3, affine: false);
        bn.Forward(Random(1, 8, 3));
        double[] mean = Values(bn.RunningMean!);
        bn.Affine = true;
        var e = Assert.Throws<InvalidOperationException>(bn.ResetParameters);
        Assert.Contains("fill_", e.Message, StringComparison.Ordinal);
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void ZeroGrad_ClearsWeightAndBiasGradients()
    {
        var bn = new BatchNorm1d(2);
        bn.Weight!.Grad = Tensor.Create(new float[] { 1, 2 }, [2]);
        bn.Bias!.Grad = Tensor.Create(new float[] { 3, 4 }, [2]);
        bn.ZeroGrad();
        Assert.Null(bn.Weight.Grad);
        Assert.Null(bn.Bias.Grad);
    }
}
