using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 2: assigning <c>NumBatchesTracked</c>, as PyTorch lets you assign
/// <c>bn.num_batches_tracked = torch.tensor(5)</c> (<c>Module.__setattr__</c> on a registered buffer) or <c>None</c>. Every
/// expectation here was observed on PyTorch 1.13 (the same code paths in 2.x: <c>_BatchNorm.forward</c>,
/// <c>_NormBase.reset_running_stats</c>, <c>Module.__setattr__</c>).
/// </summary>
public class CounterAssignmentTests
{
    [Fact]
    public void AssignedCounter_SetsTheNextCumulativeFactor()
    {
        // momentum None: factor = 1 / (counter + 1) after the increment.
        var bn = new BatchNorm1d(1, momentum: null) { NumBatchesTracked = 3 };
        bn.Forward(Floats([2, 6], 2, 1));
        Assert.Equal(4L, bn.NumBatchesTracked);
        Assert.Equal([0.25 * 4], Values(bn.RunningMean!));
        Assert.Equal([0.75 + 0.25 * 8], Values(bn.RunningVar!));
    }

    [Fact]
    public void AssigningACounter_ToALayerBuiltWithoutTracking_CreatesIt()
    {
        // PyTorch: bn = BatchNorm1d(3, track_running_stats=False); bn.num_batches_tracked = tensor(5) registers the buffer:
        // state_dict keys weight, bias, num_batches_tracked; with track_running_stats set True a train forward counts it (6),
        // and there are still no running statistics.
        var bn = new BatchNorm1d(3, trackRunningStats: false) { NumBatchesTracked = 5 };
        Assert.Equal(["weight", "bias", "num_batches_tracked"], bn.StateDict().Keys);
        bn.Forward(Random(1, 4, 3));
        Assert.Equal(5L, bn.NumBatchesTracked); // TrackRunningStats false: not counted
        bn.TrackRunningStats = true;
        bn.Forward(Random(2, 4, 3));
        Assert.Equal(6L, bn.NumBatchesTracked);
        Assert.Null(bn.RunningMean);

        // It loads like any counter: PyTorch's load_state_dict({'num_batches_tracked': tensor(3)}) reports weight and bias missing.
        LoadStateDictResult result = bn.LoadStateDict(new StateDict(2) { ["num_batches_tracked"] = StateTensor.Scalar(3) }, strict: false);
        Assert.Equal(["weight", "bias"], result.MissingKeys);
        Assert.Equal(3L, bn.NumBatchesTracked);
    }

    [Fact]
    public void AssigningNull_RemovesTheCounter_AndANullMomentumThenMeansFactorZero()
    {
        // PyTorch: num_batches_tracked = None; no state_dict key; with momentum None the factor stays 0.0 (the running
        // statistics do not move, though they are handed on).
        var bn = new BatchNorm1d(2, momentum: null) { NumBatchesTracked = null };
        Assert.Equal(["weight", "bias", "running_mean", "running_var"], bn.StateDict().Keys);
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        Assert.Null(bn.NumBatchesTracked);
        Assert.Equal([0.0, 0], Values(bn.RunningMean!));
        Assert.Equal([1.0, 1], Values(bn.RunningVar!));
        Assert.Equal(0.0, bn.Explain([2, 2]).Factor);

        // A number as momentum still moves them.
        bn.Momentum = 0.5;
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        Assert.Equal([1.0, 1.75], Values(bn.RunningMean!));
    }

    [Fact]
    public void ACounterOfMinusOne_WithNullMomentum_FailsAsPythonsDivisionByZero_AndChangesNothing()
    {
        // PyTorch: num_batches_tracked = tensor(-1), momentum None: the increment gives 0, then 1.0 / 0.0 raises
        // ZeroDivisionError: float division by zero (after the increment; NormSharp changes nothing).
        var bn = new BatchNorm1d(2, momentum: null) { NumBatchesTracked = -1 };
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Floats([1, 2, 3, 5], 2, 2)));
        Assert.Equal("float division by zero", e.Message);
        Assert.Equal(-1L, bn.NumBatchesTracked);
        Assert.Equal([0.0, 0], Values(bn.RunningMean!));
        Assert.Equal("float division by zero", bn.Explain([2, 2]).Error);

        // A rank error comes first (PyTorch checks the rank before the counter); evaluation does not divide.
        Assert.Equal("expected 2D or 3D input (got 4D input)", Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, 2, 2, 2, 2))).Message);
        bn.Eval();
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        bn.Train();
        bn.Momentum = 0.1;
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        Assert.Equal(0L, bn.NumBatchesTracked);

        // -2 gives the factor 1 / -1 = -1, which PyTorch uses as it is.
        var negative = new BatchNorm1d(1, momentum: null) { NumBatchesTracked = -2 };
        negative.Forward(Floats([2, 6], 2, 1));
        Assert.Equal([-4.0], Values(negative.RunningMean!));
    }

    [Fact]
    public void ResetRunningStats_WithTheCounterRemoved_FailsAndResetsNothing()
    {
        // PyTorch resets running_mean and running_var, then fails on None.zero_(); NormSharp checks first.
        var bn = new BatchNorm1d(2);
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        bn.NumBatchesTracked = null;
        double[] mean = Values(bn.RunningMean!);
        var e = Assert.Throws<InvalidOperationException>(bn.ResetRunningStats);
        Assert.StartsWith("TrackRunningStats is true but NumBatchesTracked was set to null", e.Message, StringComparison.Ordinal);
        Assert.Equal(mean, Values(bn.RunningMean!));

        // With tracking off, the reset does nothing (PyTorch reads the flag), counter or not.
        var plain = new BatchNorm1d(2, trackRunningStats: false) { NumBatchesTracked = 7 };
        plain.ResetRunningStats();
        Assert.Equal(7L, plain.NumBatchesTracked);
    }

    [Fact]
    public void InstanceNorm_CounterCanBeAssigned_AndIsStillNeverUsed()
    {
        var norm = new InstanceNorm1d(2, trackRunningStats: true) { NumBatchesTracked = 9 };
        norm.Forward(Random(1, 2, 2, 5));
        Assert.Equal(9L, norm.NumBatchesTracked);
        Assert.Equal(9L, norm.StateDict()["num_batches_tracked"].ToInt64s()[0]);
    }
}
