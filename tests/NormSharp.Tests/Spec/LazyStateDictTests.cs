using NormSharp.Serialization;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 7: a lazy layer's state dict before its first forward holds its promised tensors as
/// uninitialized entries, as PyTorch's holds <c>UninitializedParameter</c> / <c>UninitializedBuffer</c> objects. Ported from
/// PyTorch's test/nn/test_lazy_modules.py (test_lazy_module_parameter, test_lazy_module_buffer,
/// _check_lazy_batchnorm_state, _check_lazy_instancenorm_state) and torch/nn/parameter.py's UninitializedTensorMixin.
/// </summary>
public class LazyStateDictTests
{
    private const string ShapeMessage =
        "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in `load_state_dict` when " +
        "trying to load an uninitialized parameter into an initialized one. Call `forward` to initialize the parameters before " +
        "accessing their attributes.";

    public static TheoryData<string> LazyClasses() =>
        ["LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d"];

    private static NormBase<float> Lazy(string name, bool affine = true, bool track = true) => name switch
    {
        "LazyBatchNorm1d" => new LazyBatchNorm1d(affine: affine, trackRunningStats: track),
        "LazyBatchNorm2d" => new LazyBatchNorm2d(affine: affine, trackRunningStats: track),
        "LazyBatchNorm3d" => new LazyBatchNorm3d(affine: affine, trackRunningStats: track),
        "LazyInstanceNorm1d" => new LazyInstanceNorm1d(affine: affine, trackRunningStats: track),
        "LazyInstanceNorm2d" => new LazyInstanceNorm2d(affine: affine, trackRunningStats: track),
        _ => new LazyInstanceNorm3d(affine: affine, trackRunningStats: track),
    };

    /// <summary>The non-lazy twin with 10 channels, as PyTorch's state tests build it.</summary>
    private static NormBase<float> Eager(string lazyName, bool affine = true, bool track = true) => lazyName switch
    {
        "LazyBatchNorm1d" => new BatchNorm1d(10, affine: affine, trackRunningStats: track),
        "LazyBatchNorm2d" => new BatchNorm2d(10, affine: affine, trackRunningStats: track),
        "LazyBatchNorm3d" => new BatchNorm3d(10, affine: affine, trackRunningStats: track),
        "LazyInstanceNorm1d" => new InstanceNorm1d(10, affine: affine, trackRunningStats: track),
        "LazyInstanceNorm2d" => new InstanceNorm2d(10, affine: affine, trackRunningStats: track),
        _ => new InstanceNorm3d(10, affine: affine, trackRunningStats: track),
    };

    // test_lazy_module_parameter / test_lazy_module_buffer: state_dict()["test_param"] is an UninitializedParameter.
    [Theory]
    [MemberData(nameof(LazyClasses))]
    public void StateDict_BeforeTheFirstForward_HoldsUninitializedParametersAndBuffers_AndTheCounter(string name)
    {
        StateDict state = Lazy(name).StateDict();
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], state.Keys);
        Assert.True(state["weight"].IsUninitializedParameter);
        Assert.True(state["bias"].IsUninitializedParameter);
        Assert.True(state["running_mean"] is { IsUninitialized: true, IsUninitializedParameter: false });
        Assert.True(state["running_var"] is { IsUninitialized: true, IsUninitializedParameter: false });
        Assert.False(state["num_batches_tracked"].IsUninitialized);
        Assert.Equal([0L], state["num_batches_tracked"].ToInt64s());
        Assert.Equal("<UninitializedParameter>", state["weight"].ToString());
        Assert.Equal("<UninitializedBuffer>", state["running_var"].ToString());
        Assert.Equal(2, state.Version);
    }

    [Fact]
    public void StateDict_BeforeTheFirstForward_HoldsOnlyWhatTheFlagsPromised()
    {
        Assert.Equal(["running_mean", "running_var", "num_batches_tracked"], new LazyBatchNorm2d(affine: false).StateDict().Keys);
        Assert.Equal(["weight", "bias"], new LazyInstanceNorm1d(trackRunningStats: false).StateDict().Keys);
        Assert.Empty(new LazyBatchNorm1d(affine: false, trackRunningStats: false).StateDict().Keys);
    }

    [Fact]
    public void StateDict_FlagChangedBeforeTheFirstForward_StillHoldsThePromisedEntries()
    {
        // PyTorch: the UninitializedParameter objects stay registered whatever the flag says afterwards.
        var layer = new LazyBatchNorm1d { Affine = false };
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], layer.StateDict().Keys);
    }

    [Fact]
    public void StateDict_OfADoubleLazyLayer_HasFloat64UninitializedEntries()
    {
        StateDict state = new LazyBatchNorm2d<double>().StateDict();
        Assert.Equal(StateDType.Float64, state["weight"].DType);
        Assert.Equal(StateDType.Float64, state["running_mean"].DType);
        Assert.Equal(StateDType.Float32, new LazyBatchNorm2d().StateDict()["bias"].DType);
    }

    [Fact]
    public void StateDict_AfterTheFirstForward_HoldsRealTensors()
    {
        var layer = new LazyBatchNorm2d();
        layer.Forward(Random(1, 2, 3, 2, 2));
        Assert.All(layer.StateDict(), e => Assert.False(e.Value.IsUninitialized));
        Assert.Equal([3L], layer.StateDict()["running_var"].Shape);
    }

    // UninitializedTensorMixin: shape raises, the other tensor functions raise, .to(dtype) / .double() are allowed.
    [Fact]
    public void UninitializedEntry_HasNoShapeOrValues_ButConvertsAndPrints()
    {
        StateTensor weight = StateTensor.UninitializedParameter();
        Assert.Equal(ShapeMessage, Assert.Throws<InvalidOperationException>(() => weight.Shape).Message);
        string use = Assert.Throws<InvalidOperationException>(() => weight.ToDoubles()).Message;
        Assert.Equal("Attempted to use an uninitialized parameter in ToDoubles. This error happens when you are using a `LazyModule` or " +
                     "explicitly manipulating `torch.nn.parameter.UninitializedParameter` objects. When using LazyModules Call `forward` " +
                     "with a dummy batch to initialize the parameters before calling torch functions", use);
        Assert.Throws<InvalidOperationException>(() => weight.Count);
        Assert.Throws<InvalidOperationException>(() => weight.ToTensor<float>());
        Assert.Contains("torch.nn.parameter.UninitializedBuffer", Assert.Throws<InvalidOperationException>(() => StateTensor.UninitializedBuffer().ToInt64s()).Message,
                        StringComparison.Ordinal);

        StateTensor half = weight.ConvertTo(StateDType.Float16);
        Assert.True(half.IsUninitializedParameter);
        Assert.Equal(StateDType.Float16, half.DType);
        StateDict converted = new LazyBatchNorm1d().StateDict().ToFloatingType(StateDType.Float64);
        Assert.True(converted["running_mean"] is { IsUninitialized: true, DType: StateDType.Float64 });
        Assert.Equal(StateDType.Int64, converted["num_batches_tracked"].DType);
    }

    // _check_lazy_batchnorm_state, second half: module.load_state_dict(lazy_module.state_dict()) raises "shape of an uninitialized".
    [Theory]
    [MemberData(nameof(LazyClasses))]
    public void LoadingALazyStateDict_IntoAnInitializedLayer_FailsWithPyTorchsShapeMessage_AndChangesNothing(string name)
    {
        NormBase<float> eager = Eager(name);
        eager.Weight!.Data.Fill(2f);
        StateDict before = eager.StateDict();
        foreach (bool strict in new[] { true, false })
        {
            var e = Assert.Throws<ArgumentException>(() => eager.LoadStateDict(Lazy(name).StateDict(), strict));
            Assert.Equal(ShapeMessage, e.Message);
        }

        Assert.Equal(before.Select(e => TwinEntry(e.Value)), eager.StateDict().Select(e => TwinEntry(e.Value)));
    }

    [Fact]
    public void LoadingOneUninitializedEntry_IntoAnInitializedLayer_FailsBeforeTheKeyErrors()
    {
        // PyTorch raises from _load_from_state_dict at once: the missing and unexpected keys it had collected are not reported.
        var bn = new BatchNorm1d(3);
        StateDict state = bn.StateDict();
        state.Remove("bias");
        state["bogus"] = StateTensor.FromSingles([1f], 1);
        state["running_var"] = StateTensor.UninitializedBuffer();
        Assert.Equal(ShapeMessage, Assert.Throws<ArgumentException>(() => bn.LoadStateDict(state)).Message);

        // The counter (a real tensor in a lazy layer) given uninitialized fails the same way.
        StateDict counter = new BatchNorm1d(3).StateDict();
        counter["num_batches_tracked"] = StateTensor.UninitializedBuffer(StateDType.Int64);
        Assert.Equal(ShapeMessage, Assert.Throws<ArgumentException>(() => bn.LoadStateDict(counter)).Message);
    }

    [Fact]
    public void LoadingALazyStateDict_IntoALayerThatLacksThoseTensors_ReportsThemAsUnexpected()
    {
        // The uninitialized entries are never looked at: they are keys the layer does not have.
        var bn = new BatchNorm1d(3, affine: false, trackRunningStats: false);
        var e = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(new LazyBatchNorm1d().StateDict()));
        Assert.Equal("Error(s) in loading state_dict for BatchNorm1d:\n\tUnexpected key(s) in state_dict: \"weight\", \"bias\", " +
                     "\"running_mean\", \"running_var\", \"num_batches_tracked\". ", e.Message);
    }

    // test_lazy_module_parameter / _buffer: "Uninitialized parameters are left unchanged" when a lazy dict loads into a lazy module.
    [Theory]
    [MemberData(nameof(LazyClasses))]
    public void LoadingALazyStateDict_IntoAFreshLazyLayer_MatchesEveryKey_AndTheLayerStaysUninitialized(string name)
    {
        NormBase<float> source = Lazy(name), target = Lazy(name);
        LoadStateDictResult result = target.LoadStateDict(source.StateDict(), strict: true);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.True(target.HasUninitializedParameters);
        Assert.Equal(0, target.NumFeatures);
        Assert.Null(target.Weight);
        Assert.Null(target.RunningMean);
        Assert.Equal(name, target.ModuleName);
        target.LoadStateDict(source.StateDict()); // again (PyTorch's test loads twice)
        Assert.True(target.HasUninitializedParameters);

        // Then it initializes as any lazy layer: C from its first forward.
        nint[] shape = name[^2..] switch { "1d" => [2, 4, 5], "2d" => [2, 4, 3, 3], _ => [2, 4, 2, 2, 2] };
        target.Forward(Random(3, shape));
        Assert.Equal(4, target.NumFeatures);
        Assert.False(target.HasUninitializedParameters);
    }

    [Fact]
    public void LoadingALazyStateDict_CarriesItsCounter_IntoTheUninitializedLayer()
    {
        var source = new LazyBatchNorm1d();
        source.NumBatchesTracked = 7;
        var target = new LazyBatchNorm1d();
        target.LoadStateDict(source.StateDict());
        Assert.Equal(7L, target.NumBatchesTracked);
        Assert.True(target.HasUninitializedParameters);
    }

    // _check_lazy_batchnorm_state / _check_lazy_instancenorm_state, first half: an eager dict initializes the lazy layer.
    [Theory]
    [MemberData(nameof(LazyClasses))]
    public void LoadingAnEagerStateDict_IntoALazyLayer_InitializesIt_ForEveryFlagCombination(string name)
    {
        foreach (bool affine in new[] { false, true })
        {
            foreach (bool track in new[] { false, true })
            {
                if (name.Contains("Batch", StringComparison.Ordinal) && !(affine && track)) continue; // PyTorch's batchnorm test: defaults only
                NormBase<float> lazy = Lazy(name, affine, track);
                lazy.LoadStateDict(Eager(name, affine, track).StateDict());
                // With neither flag there is nothing to create: the layer stays lazy until its first forward.
                Assert.Equal(affine || track ? name[4..] : name, lazy.ModuleName);
                Assert.Equal(affine || track ? 10 : 0, lazy.NumFeatures);
                if (affine) Assert.Equal([10], lazy.Weight!.Data.Lengths.ToArray());
                if (track) Assert.Equal([10], lazy.RunningVar!.Lengths.ToArray());
            }
        }
    }

    [Fact]
    public void LoadingADictThatMixesRealAndUninitializedEntries_IntoALazyLayer_IsAnError_AndChangesNothing()
    {
        // PyTorch would materialize the real entries only, leaving a partly initialized layer; a NormSharp layer has all its
        // tensors or none.
        StateDict state = new LazyBatchNorm1d().StateDict();
        state["weight"] = StateTensor.FromSingles([1f, 2f, 3f], 3);
        state["bias"] = StateTensor.FromSingles([0f, 0f, 0f], 3);
        var target = new LazyBatchNorm1d();
        var e = Assert.Throws<ArgumentException>(() => target.LoadStateDict(state));
        Assert.Contains("cannot load running_mean: it is uninitialized while the other tensors initialize this lazy layer with 3 features", e.Message,
                        StringComparison.Ordinal);
        Assert.True(target.HasUninitializedParameters);
        Assert.Null(target.Weight);
    }

    [Fact]
    public void Collection_WithALazyLayer_LoadsIntoLazyLayers_AndRefusesInitializedOnes_ChangingNone()
    {
        var model = new NormModuleCollection("Net") { ["bn1"] = new LazyBatchNorm2d(), ["head"] = new LazyInstanceNorm1d() };
        StateDict lazyState = model.StateDict();
        var twin = new NormModuleCollection("Net") { ["bn1"] = new LazyBatchNorm2d(), ["head"] = new LazyInstanceNorm1d() };
        LoadStateDictResult result = twin.LoadStateDict(lazyState);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);

        var first = new BatchNorm2d(3);
        var initialized = new NormModuleCollection("Net") { ["bn1"] = first, ["head"] = new InstanceNorm1d(3, affine: true, trackRunningStats: true) };
        StateDict mixed = lazyState;
        (mixed["bn1.weight"], mixed["bn1.bias"], mixed["bn1.running_mean"], mixed["bn1.running_var"]) =
            (StateTensor.FromSingles([5f, 5f, 5f], 3), StateTensor.FromSingles([1f, 1f, 1f], 3), StateTensor.FromSingles([2f, 2f, 2f], 3), StateTensor.FromSingles([3f, 3f, 3f], 3));
        Assert.Equal(ShapeMessage, Assert.Throws<ArgumentException>(() => initialized.LoadStateDict(mixed)).Message);
        Assert.Equal([1.0, 1, 1], Values(first.Weight!.Data)); // bn1 could load, but nothing was applied
    }

    [Fact]
    public void SavingALazyStateDict_ToSafeTensors_FailsNamingTheEntries_AndWritesNothing()
    {
        string folder = Directory.CreateTempSubdirectory("normsharp-lazy-").FullName;
        try
        {
            string path = Path.Combine(folder, "lazy.safetensors");
            var model = new NormModuleCollection { ["bn"] = new LazyBatchNorm1d(affine: false) };
            var e = Assert.Throws<ArgumentException>(() => model.SaveSafeTensors(path));
            Assert.StartsWith("safetensors cannot hold uninitialized tensors, and \"bn.running_mean\", \"bn.running_var\" are uninitialized " +
                              "(a lazy layer before its first forward or load)", e.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(path));
            Assert.Empty(Directory.GetFiles(folder));
            Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(new LazyBatchNorm2d().StateDict()));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string TwinEntry(StateTensor value) => $"{value.DType} {string.Join(",", value.Shape)} {string.Join(",", value.ToDoubles())}";
}
