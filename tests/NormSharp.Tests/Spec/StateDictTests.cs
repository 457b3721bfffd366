using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 7: the in-memory state dict.</summary>
public class StateDictTests
{
    [Fact]
    public void StateDict_Default_HasPyTorchsFiveKeysInOrderCounterAsInt64Scalar()
    {
        StateDict sd = new BatchNorm2d(3).StateDict();
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], sd.Keys);
        Assert.Equal(StateDType.Int64, sd["num_batches_tracked"].DType);
        Assert.Empty(sd["num_batches_tracked"].Shape);
        Assert.Equal(StateDType.Float32, sd["weight"].DType);
        Assert.Equal([3L], sd["running_var"].Shape);
        Assert.Equal(2, sd.Version);
    }

    [Fact]
    public void StateDict_OnlyEntriesThatExist()
    {
        Assert.Equal(["running_mean", "running_var", "num_batches_tracked"], new BatchNorm1d(3, affine: false).StateDict().Keys);
        Assert.Equal(["weight", "bias"], new BatchNorm1d(3, trackRunningStats: false).StateDict().Keys);
        Assert.Empty(new BatchNorm1d(3, affine: false, trackRunningStats: false).StateDict().Keys);
    }

    [Fact]
    public void StateDict_IsASnapshot_LaterForwardsDoNotChangeIt()
    {
        var bn = new BatchNorm1d(2);
        StateDict sd = bn.StateDict();
        bn.Forward(Random(1, 4, 2));
        Assert.Equal([0.0, 0], sd["running_mean"].ToDoubles());
        Assert.Equal([0L], sd["num_batches_tracked"].ToInt64s());
    }

    [Fact]
    public void LoadStateDict_RoundTrip_RestoresEveryValue()
    {
        var source = new BatchNorm2d<double>(3);
        source.Weight!.Data.Fill(2.0);
        for (int k = 0; k < 3; k++) source.Forward(Random<double>(k, 1, 2, 4, 3, 2, 2));
        var target = new BatchNorm2d<double>(3);
        LoadStateDictResult result = target.LoadStateDict(source.StateDict());
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(Values(source.RunningMean!), Values(target.RunningMean!));
        Assert.Equal(Values(source.RunningVar!), Values(target.RunningVar!));
        Assert.Equal(Values(source.Weight.Data), Values(target.Weight!.Data));
        Assert.Equal(3L, target.NumBatchesTracked);
    }

    [Fact]
    public void LoadStateDict_DoubleIntoFloat_ConvertsValues()
    {
        var source = new BatchNorm1d<double>(2);
        source.RunningMean![0] = 0.25;
        var target = new BatchNorm1d(2);
        target.LoadStateDict(source.StateDict());
        Assert.Equal(0.25f, target.RunningMean![0]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(1)]
    public void LoadStateDict_OldVersionWithoutCounter_LoadsWithCounterZero(int? version)
    {
        var bn = new BatchNorm1d(2);
        bn.Forward(Random(1, 4, 2));
        bn.Forward(Random(2, 4, 2));
        var sd = new StateDict(version)
        {
            { "weight", StateTensor.FromSingles([1f, 1f], 2) },
            { "bias", StateTensor.FromSingles([0f, 0f], 2) },
            { "running_mean", StateTensor.FromSingles([0.5f, 0.5f], 2) },
            { "running_var", StateTensor.FromSingles([2f, 2f], 2) },
        };
        bn.LoadStateDict(sd, strict: true);
        Assert.Equal(0L, bn.NumBatchesTracked);
        Assert.Equal([0.5, 0.5], Values(bn.RunningMean!));
    }

    [Fact]
    public void LoadStateDict_Version2WithoutCounter_StrictReportsTheMissingKeyAndChangesNothing()
    {
        var bn = new BatchNorm2d(3);
        StateDict sd = bn.StateDict();
        sd.Remove("num_batches_tracked");
        sd["running_mean"] = StateTensor.FromSingles([9f, 9f, 9f], 3);
        var e = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(sd));
        Assert.Equal("Error(s) in loading state_dict for BatchNorm2d:\n\tMissing key(s) in state_dict: \"num_batches_tracked\". ", e.Message);
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
    }

    [Fact]
    public void LoadStateDict_NonStrict_ReportsMissingAndUnexpectedAndLoadsTheRest()
    {
        var bn = new BatchNorm1d(2, trackRunningStats: false);
        var sd = new StateDict(2)
        {
            { "weight", StateTensor.FromSingles([3f, 3f], 2) },
            { "running_mean", StateTensor.FromSingles([1f, 1f], 2) },
        };
        LoadStateDictResult result = bn.LoadStateDict(sd, strict: false);
        Assert.Equal(["bias"], result.MissingKeys);
        Assert.Equal(["running_mean"], result.UnexpectedKeys);
        Assert.Equal([3.0, 3], Values(bn.Weight!.Data));
    }

    [Fact]
    public void LoadStateDict_TrackingStateIntoNonTrackingLayer_StrictListsUnexpectedKeys()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new BatchNorm1d(2, trackRunningStats: false).LoadStateDict(new BatchNorm1d(2).StateDict()));
        Assert.Equal("Error(s) in loading state_dict for BatchNorm1d:\n\t" +
                     "Unexpected key(s) in state_dict: \"running_mean\", \"running_var\", \"num_batches_tracked\". ", e.Message);
    }

    [Fact]
    public void LoadStateDict_ShapeMismatch_IsAnErrorEvenWhenNotStrict_NothingLoaded()
    {
        var bn = new BatchNorm1d(3);
        StateDict sd = new BatchNorm1d(4).StateDict();
        sd["bias"] = StateTensor.FromSingles([7f, 7f, 7f], 3);
        var e = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(sd, strict: false));
        Assert.Contains("size mismatch for weight: copying a param with shape [4] from checkpoint, the shape in current model is [3].", e.Message, StringComparison.Ordinal);
        Assert.Contains("size mismatch for running_mean", e.Message, StringComparison.Ordinal);
        Assert.Equal([0.0, 0, 0], Values(bn.Bias!.Data));
    }

    [Fact]
    public void LoadStateDict_CounterStoredWithShapeOne_LoadsAsTheScalar()
    {
        var bn = new BatchNorm1d(2);
        StateDict sd = bn.StateDict();
        sd["num_batches_tracked"] = StateTensor.FromInt64s([5L], 1);
        bn.LoadStateDict(sd);
        Assert.Equal(5L, bn.NumBatchesTracked);
    }

    [Fact]
    public void LoadStateDict_CounterStoredAsFloat_LoadsAsItsInteger()
    {
        var bn = new BatchNorm1d(2);
        StateDict sd = bn.StateDict();
        sd["num_batches_tracked"] = StateTensor.FromDoubles([5.0]);
        bn.LoadStateDict(sd);
        Assert.Equal(5L, bn.NumBatchesTracked);
    }

    [Fact]
    public void LoadStateDict_CounterWithTwoElements_IsAShapeMismatch()
    {
        var bn = new BatchNorm1d(2);
        StateDict sd = bn.StateDict();
        sd["num_batches_tracked"] = StateTensor.FromInt64s([5L, 6L], 2);
        var e = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(sd));
        Assert.Contains("size mismatch for num_batches_tracked: copying a param with shape [2] from checkpoint, the shape in current model is [].", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StateTensor_ValuesThatDoNotFitTheShape_Throw()
    {
        Assert.Throws<ArgumentException>(() => StateTensor.FromSingles([1f, 2f], 3));
    }
}
