using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>pytorch-semantics.md section 1.3: the lazy modules take num_features from their first forward.</summary>
public class LazyModuleTests
{
    [Fact]
    public void BeforeTheFirstForward_NothingIsMaterializedButTheCounter()
    {
        var layer = new LazyBatchNorm2d();
        Assert.True(layer.HasUninitializedParameters);
        Assert.Equal(0, layer.NumFeatures);
        Assert.Null(layer.Weight);
        Assert.Null(layer.RunningMean);
        Assert.Equal(0L, layer.NumBatchesTracked);
        Assert.Equal("LazyBatchNorm2d", layer.ModuleName);
        // The state dict holds the promised tensors as uninitialized entries (LazyStateDictTests), and the real counter.
        StateDict state = layer.StateDict();
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], state.Keys);
        Assert.Equal([true, true, true, true, false], state.Select(e => e.Value.IsUninitialized));
    }

    [Fact]
    public void FirstForward_TakesNumFeaturesFromDim1_ThenBehavesAsTheNonLazyModule()
    {
        var lazy = new LazyBatchNorm2d();
        var plain = new BatchNorm2d(5);
        Tensor<float> x = Random(3, 2, 5, 3, 3);
        Assert.Equal(Values(plain.Forward(x)), Values(lazy.Forward(x)));
        Assert.False(lazy.HasUninitializedParameters);
        Assert.Equal(5, lazy.NumFeatures);
        Assert.Equal("BatchNorm2d", lazy.ModuleName);
        Assert.Equal(1L, lazy.NumBatchesTracked);
        Assert.Equal(Values(plain.RunningMean!), Values(lazy.RunningMean!));
        Assert.Equal(Values(plain.Weight!.Data), Values(lazy.Weight!.Data));

        Tensor<float> next = Random(4, 2, 5, 3, 3);
        Assert.Equal(Values(plain.Forward(next)), Values(lazy.Forward(next)));
        Assert.Equal(Values(plain.Backward(next)), Values(lazy.Backward(next)));
    }

    [Fact]
    public void WithoutAffineOrTracking_NothingToInitialize_NumFeaturesStaysZero()
    {
        var layer = new LazyBatchNorm1d(affine: false, trackRunningStats: false);
        Tensor<float> y = layer.Forward(Random(1, 3, 4));
        Assert.Equal([3, 4], y.Lengths.ToArray());
        Assert.Equal(0, layer.NumFeatures);
        Assert.Equal("BatchNorm1d", layer.ModuleName);
    }

    [Fact]
    public void LazyInstanceNorm_DefaultsToAffineAndTracking_AndNeverCounts()
    {
        var layer = new LazyInstanceNorm2d();
        Assert.True(layer.Affine);
        Assert.True(layer.TrackRunningStats);
        layer.Forward(Random(2, 2, 3, 4, 4));
        Assert.Equal("InstanceNorm2d", layer.ModuleName);
        Assert.Equal(3, layer.NumFeatures);
        Assert.Equal(0L, layer.NumBatchesTracked);
        Assert.NotEqual([0.0, 0.0, 0.0], Values(layer.RunningMean!));
    }

    [Fact]
    public void LazyInstanceNorm1d_UnbatchedFirstInput_ReadsDim1AsPyTorchDoes_AndFailsWithoutInitializing()
    {
        var layer = new LazyInstanceNorm1d<float>();
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, 4, 7)));
        Assert.Equal("expected input's size at dim=0 to match num_features (7), but got: 4.", e.Message);
        Assert.True(layer.HasUninitializedParameters);
        Assert.Equal(0, layer.NumFeatures);
        Assert.Equal("LazyInstanceNorm1d", layer.ModuleName);
    }

    [Fact]
    public void FailingFirstForward_LeavesTheLayerUninitialized()
    {
        var layer = new LazyBatchNorm1d();
        Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, 1, 4)));
        Assert.True(layer.HasUninitializedParameters);
        Assert.Null(layer.Weight);
        Assert.Equal(0L, layer.NumBatchesTracked);
        Assert.Throws<ArgumentException>(() => layer.Forward(Random(1, 2, 3, 4, 5)));
        Assert.True(layer.HasUninitializedParameters);
        layer.Forward(Random(1, 4, 6));
        Assert.Equal(6, layer.NumFeatures);
    }

    [Fact]
    public void FlagChangedBeforeTheFirstForward_IsNotFullyInitialized()
    {
        var layer = new LazyBatchNorm1d { Affine = false };
        var e = Assert.Throws<InvalidOperationException>(() => layer.Forward(Random(1, 4, 3)));
        Assert.StartsWith("module LazyBatchNorm1d has not been fully initialized", e.Message);
        Assert.True(layer.HasUninitializedParameters);
        Assert.Null(layer.RunningMean);
        Assert.Equal(e.Message, layer.Explain([1, 4, 3]).Error);
    }

    [Fact]
    public void Explain_OnAnUninitializedLayer_PlansAsIfInitializedAndChangesNothing()
    {
        var layer = new LazyBatchNorm2d();
        ForwardPlan plan = layer.Explain([2, 5, 3, 3]);
        Assert.Null(plan.Error);
        Assert.True(plan.UpdatesRunningStatistics);
        Assert.Equal(1L, plan.CounterAfter);
        Assert.True(layer.HasUninitializedParameters);
        Assert.Null(layer.RunningMean);
    }

    [Fact]
    public void LoadStateDict_MaterializesFromTheCheckpointShapes()
    {
        var source = new BatchNorm2d(4);
        source.Forward(Random(5, 2, 4, 3, 3));
        var lazy = new LazyBatchNorm2d();
        lazy.LoadStateDict(source.StateDict());
        Assert.Equal(4, lazy.NumFeatures);
        Assert.Equal(Values(source.RunningVar!), Values(lazy.RunningVar!));
        Assert.Equal(1L, lazy.NumBatchesTracked);
        Assert.Equal("BatchNorm2d", lazy.ModuleName);
    }

    [Fact]
    public void ResetParameters_BeforeInitialization_DoesNothing_ResetRunningStatsIsAnError()
    {
        var layer = new LazyBatchNorm3d();
        layer.ResetParameters();
        Assert.Throws<InvalidOperationException>(layer.ResetRunningStats);
        Assert.True(layer.HasUninitializedParameters);
        layer.Forward(Random(1, 2, 2, 2, 2, 2));
        Assert.Equal(2, layer.NumFeatures);
    }

    [Fact]
    public void EveryLazyModule_BecomesItsNonLazyTwin()
    {
        (NormBase<double> Layer, nint[] Shape, string Name)[] cases =
        [
            (new LazyBatchNorm1d<double>(), [3, 2], "BatchNorm1d"),
            (new LazyBatchNorm2d<double>(), [3, 2, 2, 2], "BatchNorm2d"),
            (new LazyBatchNorm3d<double>(), [3, 2, 2, 2, 2], "BatchNorm3d"),
            (new LazyInstanceNorm1d<double>(), [3, 2, 4], "InstanceNorm1d"),
            (new LazyInstanceNorm2d<double>(), [3, 2, 2, 2], "InstanceNorm2d"),
            (new LazyInstanceNorm3d<double>(), [3, 2, 2, 2, 2], "InstanceNorm3d"),
        ];
        foreach (var (layer, shape, name) in cases)
        {
            Assert.Equal("Lazy" + name, layer.ModuleName);
            layer.Forward(Random<double>(1, 0, 1, shape));
            Assert.Equal(name, layer.ModuleName);
            Assert.Equal(2, layer.NumFeatures);
        }
    }

    [Fact]
    public void LazyLayer_OnAnInputWithZeroChannels_InitializesWithEmptyTensors()
    {
        var layer = new LazyInstanceNorm3d<float>(affine: false, trackRunningStats: true);
        Tensor<float> output = layer.Forward(Tensor.CreateFromShape<float>([3, 0, 0, 1, 3]));
        Assert.Equal(0, output.FlattenedLength);
        Assert.Equal(0, layer.NumFeatures);
        Assert.False(layer.HasUninitializedParameters);
        Assert.Equal(0, layer.RunningMean!.FlattenedLength);
    }

    [Fact]
    public void LazyLayerWithAffine_OnAnInputWithZeroChannels_FailsAsPyTorch_AndStaysUninitialized()
    {
        // PyTorch: LazyInstanceNorm3d(track_running_stats=True) creates weight (0,), then ATen's weight[0] fails.
        var layer = new LazyInstanceNorm3d<float>(trackRunningStats: true);
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.CreateFromShape<float>([3, 0, 0, 1, 3])));
        Assert.Equal("select(): index 0 out of range for tensor of size [0] at dimension 0", e.Message);
        Assert.True(layer.HasUninitializedParameters);
    }
}
