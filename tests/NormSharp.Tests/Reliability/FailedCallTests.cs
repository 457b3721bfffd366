using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Reliability;

/// <summary>A call that throws changes nothing, hidden state (what Backward uses) included.</summary>
public class FailedCallTests
{
    private static double[] BackwardOfATwin(Func<NormBase<float>> build, Tensor<float> x, Tensor<float> dy)
    {
        NormBase<float> twin = build();
        twin.Forward(x);
        return Values(twin.Backward(dy));
    }

    [Fact]
    public void FailedForwardIntoABadDestination_WithAnotherBatchSize_LeavesBackwardOnTheLastSuccessfulForward()
    {
        Func<NormBase<float>> build = () => new InstanceNorm1d(3, affine: true);
        NormBase<float> layer = build();
        Tensor<float> x = Random(1, 4, 3, 5), dy = Random(2, 4, 3, 5);
        layer.Forward(x);
        Assert.Throws<ArgumentException>(() => layer.Forward(Random(3, 2, 3, 5), Tensor.CreateFromShape<float>([7])));
        double[] dx = Values(layer.Backward(dy));
        Assert.Equal(BackwardOfATwin(build, x, dy), dx);
        Assert.Contains(dx, v => v != 0);
    }

    [Fact]
    public void FailedForwardIntoABadDestination_WithAnotherChannelCount_LeavesBackwardOnTheLastSuccessfulForward()
    {
        Func<NormBase<float>> build = () => new BatchNorm1d(3, affine: false, trackRunningStats: false);
        NormBase<float> layer = build();
        Tensor<float> x = Random(1, 4, 3), dy = Random(2, 4, 3);
        layer.Forward(x);
        Assert.Throws<ArgumentException>(() => layer.Forward(Random(3, 4, 5), Tensor.CreateFromShape<float>([4, 3])));
        Assert.Equal(BackwardOfATwin(build, x, dy), Values(layer.Backward(dy)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExplainWithANegativeLength_ThrowsArgumentOutOfRange_AndChangesNothing(bool lazy)
    {
        NormBase<float> layer = lazy ? new LazyBatchNorm2d() : new BatchNorm2d(3);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => layer.Explain([2, -3, 4, 4]));
        Assert.Contains("negative length -3 at dimension 1", error.Message);
        Assert.Equal(lazy ? 0 : 3, layer.NumFeatures);
        Assert.Equal(lazy, layer.HasUninitializedParameters);
    }

    [Fact]
    public void ExplainOnALazyLayer_DescribesTheFirstForward_WithoutCreatingAnything()
    {
        var lazy = new LazyBatchNorm2d();
        long before = GC.GetAllocatedBytesForCurrentThread();
        ForwardPlan plan = lazy.Explain([0, 2_000_000_000, 4, 4]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"{allocated} bytes");
        Assert.True(plan.HasAffineParameters);
        Assert.True(plan.HasRunningStatistics);
        Assert.True(lazy.HasUninitializedParameters);
        Assert.Equal(0, lazy.NumFeatures);
        Assert.Null(lazy.Weight);

        // The plan is the one the first forward follows.
        ForwardPlan small = lazy.Explain([2, 3, 4, 4]);
        lazy.Forward(Random(1, 2, 3, 4, 4));
        Assert.Equal(small.IncrementsCounter, lazy.NumBatchesTracked == 1);
        Assert.Equal(small.UpdatesRunningStatistics, Values(lazy.RunningMean!).Any(v => v != 0));
    }

    [Fact]
    public void LazyForward_WhoseTensorsCannotBeAllocated_LeavesTheLayerUninitialized()
    {
        // More channels than a .NET array can hold: creating the weight fails before anything is assigned.
        var lazy = new LazyBatchNorm1d();
        Tensor<float> empty = Tensor.CreateFromShape<float>([0, 2_147_483_600]);
        Assert.Throws<OutOfMemoryException>(() => lazy.Forward(empty));
        Assert.Equal(0, lazy.NumFeatures);
        Assert.True(lazy.HasUninitializedParameters);
        Assert.Null(lazy.Weight);
        Assert.Null(lazy.RunningMean);
        Assert.Equal("LazyBatchNorm1d", lazy.ModuleName);
    }

    [Fact]
    public void ForwardOfAnEmptyInputWithManyChannels_AllocatesNothingPerChannel()
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> empty = Tensor.CreateFromShape<float>([0, 20_000_000]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Tensor<float> output = bn.Forward(empty);
        Tensor<float> dx = bn.Backward(empty);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"{allocated} bytes");
        Assert.Equal(0, output.FlattenedLength);
        Assert.Equal(0, dx.FlattenedLength);
        Assert.Equal([0.0, 0, 0], Values(bn.Weight!.Grad!));
    }

    private static StateDict TrackedInstanceNormState()
    {
        var tracked = new InstanceNorm1d(3, trackRunningStats: true);
        tracked.Forward(Random(1, 2, 3, 5));
        return tracked.StateDict();
    }

    [Fact]
    public void LoadStateDict_WhoseWarningHandlerThrows_LoadsNothing()
    {
        var layer = new InstanceNorm1d(3, affine: true);
        StateDict state = TrackedInstanceNormState();
        var incoming = new InstanceNorm1d(3, affine: true);
        incoming.Weight!.Data.Fill(7f);
        foreach (var (key, value) in incoming.StateDict()) state[key] = value;

        void Throwing(object? sender, NormWarningEventArgs e)
        {
            if (ReferenceEquals(sender, layer)) throw new InvalidOperationException("warnings are errors");
        }

        NormWarnings.Raised += Throwing;
        try
        {
            Assert.Throws<InvalidOperationException>(() => layer.LoadStateDict(state));
        }
        finally
        {
            NormWarnings.Raised -= Throwing;
        }

        Assert.Equal([1.0, 1, 1], Values(layer.Weight!.Data));
    }

    [Fact]
    public void CollectionLoad_WhoseWarningHandlerThrows_LoadsNothingIntoAnyLayer()
    {
        var first = new BatchNorm1d(3);
        var norm = new InstanceNorm1d(3, affine: true);
        var model = new NormModuleCollection("Net") { ["a"] = first, ["b"] = norm };
        var state = new StateDict(2);
        var source = new BatchNorm1d(3);
        source.Weight!.Data.Fill(5f);
        foreach (var (key, value) in source.StateDict()) state["a." + key] = value;
        foreach (var (key, value) in TrackedInstanceNormState()) state["b." + key] = value;
        foreach (var (key, value) in new InstanceNorm1d(3, affine: true).StateDict()) state["b." + key] = value;

        void Throwing(object? sender, NormWarningEventArgs e)
        {
            if (ReferenceEquals(sender, norm)) throw new InvalidOperationException("warnings are errors");
        }

        NormWarnings.Raised += Throwing;
        try
        {
            Assert.Throws<InvalidOperationException>(() => model.LoadStateDict(state));
        }
        finally
        {
            NormWarnings.Raised -= Throwing;
        }

        Assert.Equal([1.0, 1, 1], Values(first.Weight!.Data));
    }
}
