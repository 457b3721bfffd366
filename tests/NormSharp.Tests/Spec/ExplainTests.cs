using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>Explain returns the decision Forward then executes (one method for both).</summary>
public class ExplainTests
{
    [Fact]
    public void Explain_TrainingWithTracking_DescribesBatchStatisticsEmaAndCounter()
    {
        var bn = new BatchNorm2d(3);
        ForwardPlan plan = bn.Explain([4, 3, 2, 2]);
        Assert.Equal(StatisticsSource.Batch, plan.NormalizeWith);
        Assert.True(plan.UpdatesRunningStatistics);
        Assert.Equal(RunningAverage.Exponential, plan.Averaging);
        Assert.Equal(0.1, plan.Factor);
        Assert.True(plan.IncrementsCounter);
        Assert.Equal(1L, plan.CounterAfter);
        Assert.True(plan.SingleValueCheckApplies);
        Assert.Null(plan.Error);
        Assert.Equal(0L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Explain_MomentumNull_FactorIsOneOverTheNextCount()
    {
        var bn = new BatchNorm1d(3, momentum: null);
        bn.Forward(Random(1, 4, 3));
        bn.Forward(Random(2, 4, 3));
        ForwardPlan plan = bn.Explain([4, 3]);
        Assert.Equal(RunningAverage.Cumulative, plan.Averaging);
        Assert.Equal(1.0 / 3, plan.Factor);
        Assert.Equal(3L, plan.CounterAfter);
    }

    [Fact]
    public void Explain_EvalWithTrackingOff_RunningStatisticsAndSaysWhy()
    {
        var bn = new BatchNorm1d(3) { TrackRunningStats = false };
        bn.Eval();
        ForwardPlan plan = bn.Explain([4, 3]);
        Assert.Equal(StatisticsSource.Running, plan.NormalizeWith);
        Assert.False(plan.SingleValueCheckApplies);
        Assert.Contains(plan.Reasons, r => r.Contains("only the buffers' existence counts", StringComparison.Ordinal));
    }

    [Fact]
    public void Explain_NamesChangesThatHaveNoEffect()
    {
        var noBuffers = new BatchNorm1d(3, trackRunningStats: false) { TrackRunningStats = true };
        Assert.Contains(noBuffers.Explain([4, 3]).IneffectiveChanges, c => c.StartsWith("TrackRunningStats was set to true", StringComparison.Ordinal));
        var affine = new BatchNorm1d(3) { Affine = false };
        Assert.Contains(affine.Explain([4, 3]).IneffectiveChanges, c => c.StartsWith("Affine was set to false", StringComparison.Ordinal));
        Assert.Empty(new BatchNorm1d(3).Explain([4, 3]).IneffectiveChanges);
    }

    [Fact]
    public void Explain_ReportsTheErrorTheForwardWillThrow_AndThatNothingChanges()
    {
        var bn = new BatchNorm1d(3);
        ForwardPlan plan = bn.Explain([1, 3]);
        Assert.Equal("Expected more than 1 value per channel when training, got input size [1, 3]", plan.Error);
        Assert.False(plan.IncrementsCounter);
        Assert.False(plan.UpdatesRunningStatistics);
        Assert.Equal(plan.Error, Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, 1, 3))).Message);
        Assert.Equal("expected 2D or 3D input (got 4D input)", bn.Explain([1, 3, 2, 2]).Error);
    }

    [Fact]
    public void Explain_AgreesWithForward_OnEveryModeAndFlagCombination()
    {
        foreach (bool built in new[] { true, false })
            foreach (bool now in new[] { true, false })
                foreach (bool training in new[] { true, false })
                {
                    var bn = new BatchNorm1d<double>(2, affine: false, trackRunningStats: built) { TrackRunningStats = now };
                    bn.RunningMean?.Fill(3.0);
                    bn.Train(training);
                    Tensor<double> x = Random<double>(5, 0, 1, 6, 2);
                    ForwardPlan plan = bn.Explain(x.Lengths);
                    double[]? before = bn.RunningMean is null ? null : Values(bn.RunningMean);
                    long? counter = bn.NumBatchesTracked;
                    double[] y = Values(bn.Forward(x));
                    double channelMean = (y[0] + y[2] + y[4] + y[6] + y[8] + y[10]) / 6;
                    Assert.Equal(plan.NormalizeWith == StatisticsSource.Batch, Math.Abs(channelMean) < 1e-9);
                    Assert.Equal(plan.UpdatesRunningStatistics, before is not null && !before.SequenceEqual(Values(bn.RunningMean!)));
                    Assert.Equal(plan.CounterAfter, bn.NumBatchesTracked);
                    Assert.Equal(plan.IncrementsCounter, counter != bn.NumBatchesTracked);
                }
    }

    [Fact]
    public void ForwardPlan_ToString_ListsDecisionAndReasons()
    {
        string text = new BatchNorm2d(3).Explain([2, 3, 4, 4]).ToString();
        Assert.StartsWith("BatchNorm2d forward on [2, 3, 4, 4]: normalizes with batch statistics", text, StringComparison.Ordinal);
        Assert.Contains("num_batches_tracked goes from 0 to 1", text, StringComparison.Ordinal);
    }
}
