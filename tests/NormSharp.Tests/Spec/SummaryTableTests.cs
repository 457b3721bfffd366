using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 3: each row of the summary table, checked on the module itself.</summary>
public class SummaryTableTests
{
    private sealed record Observed(string NormalizedWith, bool? Updated, bool? Counted, bool SingleValueError);

    private static Observed Run(bool training, bool built, bool now)
    {
        BatchNorm1d<double> Configure()
        {
            var layer = new BatchNorm1d<double>(3, affine: false, trackRunningStats: built);
            if (layer.RunningMean is not null)
            {
                layer.RunningMean.Fill(5.0);
                layer.RunningVar!.Fill(4.0);
            }

            layer.TrackRunningStats = now;
            layer.Train(training);
            return layer;
        }

        BatchNorm1d<double> bn = Configure();
        Tensor<double> x = Random<double>(1, 0, 1, 8, 3);
        double[]? rm = bn.RunningMean is null ? null : Values(bn.RunningMean);
        long? counter = bn.NumBatchesTracked;
        double[] y = Values(bn.Forward(x));
        double[] xs = Values(x);
        string normalizedWith = Math.Abs(y[0] - (xs[0] - 5.0) / Math.Sqrt(4.0 + 1e-5)) < 1e-12 ? "running" : "batch";
        bool? updated = rm is null ? null : !rm.SequenceEqual(Values(bn.RunningMean!));
        bool? counted = counter is null ? null : counter != bn.NumBatchesTracked;
        bool error = false;
        try { Configure().Forward(Random<double>(2, 0, 1, 1, 3)); }
        catch (ArgumentException) { error = true; }
        return new Observed(normalizedWith, updated, counted, error);
    }

    [Fact]
    public void Train_BuiltTracking_TrackingNow_BatchStats_Updates_Counts_OneValueError() =>
        Assert.Equal(new Observed("batch", true, true, true), Run(true, true, true));

    [Fact]
    public void Train_BuiltTracking_TrackingOffNow_BatchStats_NoUpdate_NoCount_OneValueError() =>
        Assert.Equal(new Observed("batch", false, false, true), Run(true, true, false));

    [Fact]
    public void Train_BuiltWithoutTracking_BatchStats_NoBuffers_OneValueError() =>
        Assert.Equal(new Observed("batch", null, null, true), Run(true, false, false));

    [Fact]
    public void Train_BuiltWithoutTracking_TrackingOnNow_SameAsUnchanged() =>
        Assert.Equal(new Observed("batch", null, null, true), Run(true, false, true));

    [Fact]
    public void Eval_BuiltTracking_TrackingNow_RunningStats_NothingChanges_NoError() =>
        Assert.Equal(new Observed("running", false, false, false), Run(false, true, true));

    [Fact]
    public void Eval_BuiltTracking_TrackingOffNow_StillRunningStats_NoError() =>
        Assert.Equal(new Observed("running", false, false, false), Run(false, true, false));

    [Fact]
    public void Eval_BuiltWithoutTracking_BatchStats_OneValueError() =>
        Assert.Equal(new Observed("batch", null, null, true), Run(false, false, false));

    [Fact]
    public void Eval_BuiltWithoutTracking_TrackingOnNow_StillBatchStats_OneValueError() =>
        Assert.Equal(new Observed("batch", null, null, true), Run(false, false, true));
}
