using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.Synchronization;

/// <summary><c>SyncBatchNorm.Convert</c>, PyTorch's <c>convert_sync_batchnorm</c>.</summary>
public sealed class ConvertTests
{
    private static readonly IProcessGroup Group = ThreadProcessGroup.Create(1, TimeSpan.FromSeconds(10))[0];

    private static NormModuleCollection TrainedModel()
    {
        var bn1 = new BatchNorm2d(4);
        var norm = new InstanceNorm1d(3);
        var bn2 = new BatchNorm1d<double>(2, momentum: null, eps: 1e-3);
        for (int step = 0; step < 3; step++)
        {
            bn1.Forward(Tensor.Create(Enumerable.Range(0, 2 * 4 * 3 * 3).Select(i => (float)Math.Sin(i * (step + 1))).ToArray(), [2, 4, 3, 3]));
            bn1.Backward(Tensor.Create(Enumerable.Range(0, 2 * 4 * 3 * 3).Select(i => (float)Math.Cos(i)).ToArray(), [2, 4, 3, 3]));
            bn2.Forward(Tensor.Create(Enumerable.Range(0, 10).Select(i => Math.Cos(i * (step + 2))).ToArray(), [5, 2]));
        }

        bn1.Weight!.RequiresGrad = false;
        bn2.Eval();
        return new NormModuleCollection("net") { { "bn1", bn1 }, { "norm", norm }, { "bn2", bn2 } };
    }

    [Fact]
    public void Convert_ReplacesEveryBatchNorm_KeepingNamesOrderAndOtherLayers()
    {
        NormModuleCollection model = TrainedModel();
        NormModuleCollection converted = SyncBatchNorm.Convert(model, Group);
        Assert.Equal("net", converted.Name);
        Assert.Equal(["bn1", "norm", "bn2"], converted.Select(m => m.Key));
        Assert.IsType<SyncBatchNorm>(converted["bn1"]);
        Assert.IsType<SyncBatchNorm<double>>(converted["bn2"]);
        Assert.Same(model["norm"], converted["norm"]);
        Assert.Same(Group, ((SyncBatchNorm<double>)converted["bn2"]).ProcessGroup);
    }

    [Fact]
    public void Convert_KeepsParametersBuffersCounterFlagsAndMode()
    {
        NormModuleCollection model = TrainedModel();
        NormModuleCollection converted = SyncBatchNorm.Convert(model, Group);
        StateDict before = model.StateDict(), after = converted.StateDict();
        Assert.Equal(before.Keys, after.Keys);
        foreach (string key in before.Keys) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());

        var bn1 = (BatchNorm2d)model["bn1"];
        var sync1 = (SyncBatchNorm<float>)converted["bn1"];
        Assert.False(sync1.Weight!.RequiresGrad);
        Assert.Equal([.. bn1.Weight!.Grad!], [.. sync1.Weight.Grad!]);
        Assert.NotSame(bn1.Weight.Grad, sync1.Weight.Grad);
        Assert.True(sync1.Training);

        var sync2 = (SyncBatchNorm<double>)converted["bn2"];
        Assert.False(sync2.Training);
        Assert.Null(sync2.Momentum);
        Assert.Equal(1e-3, sync2.Eps);
        Assert.Equal(3, sync2.NumBatchesTracked);
    }

    [Fact]
    public void Convert_KeepsTheStatisticsPolicies()
    {
        var bn = new BatchNorm1d(3)
        {
            FreezeStatistics = true, FreezeParameters = true, SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics,
            EmptyBatchPolicy = EmptyBatchPolicy.SkipUpdate, NonFinitePolicy = NonFinitePolicy.Throw, VirtualBatchSize = 4,
        };
        var sync = (SyncBatchNorm<float>)SyncBatchNorm.Convert(new NormModuleCollection { ["bn"] = bn }, Group)["bn"];
        Assert.True(sync.FreezeStatistics && sync.FreezeParameters);
        Assert.Equal(SmallBatchPolicy.UseRunningStatistics, sync.SmallBatchPolicy);
        Assert.Equal(EmptyBatchPolicy.SkipUpdate, sync.EmptyBatchPolicy);
        Assert.Equal(NonFinitePolicy.Throw, sync.NonFinitePolicy);
        Assert.Equal(4, sync.VirtualBatchSize);
    }

    [Fact]
    public void Convert_BuildsFromTheCurrentAttributes_AsPyTorchDoes()
    {
        var bn = new BatchNorm1d(3) { Affine = false, TrackRunningStats = false };
        var sync = (SyncBatchNorm<float>)SyncBatchNorm.Convert(new NormModuleCollection { { "bn", bn } }, Group)["bn"];
        Assert.Null(sync.Weight);
        Assert.Null(sync.RunningMean);
        Assert.Null(sync.NumBatchesTracked);
    }

    [Fact]
    public void Convert_OfAnUninitializedLazyLayer_IsAnError()
    {
        var model = new NormModuleCollection { { "lazy", new LazyBatchNorm2d() } };
        var error = Assert.Throws<InvalidOperationException>(() => SyncBatchNorm.Convert(model, Group));
        Assert.StartsWith("'lazy' (LazyBatchNorm2d) is a lazy layer that has not run a forward yet", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_DoesNotChangeTheModel()
    {
        NormModuleCollection model = TrainedModel();
        StateDict before = model.StateDict();
        SyncBatchNorm.Convert(model, Group);
        StateDict after = model.StateDict();
        foreach (string key in before.Keys) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());
        Assert.IsType<BatchNorm2d>(model["bn1"]);
    }

    [Fact]
    public void ToDouble_KeepsTheProcessGroupAndTheState()
    {
        var bn = new SyncBatchNorm(3, momentum: null, processGroup: Group);
        bn.Forward(Tensor.Create([1f, 2, 3, 4, 5, 6], [2, 3]));
        var twin = Assert.IsType<SyncBatchNorm<double>>(bn.ToDouble());
        Assert.Same(Group, twin.ProcessGroup);
        Assert.Equal(1, twin.NumBatchesTracked);
        Assert.Null(twin.Momentum);
        Assert.Equal([.. bn.RunningMean!.Select(v => (double)v)], [.. twin.RunningMean!]);
        Assert.IsType<SyncBatchNorm>(twin.ToFloat());
    }
}
