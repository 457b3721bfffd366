using NormSharp.Serialization;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Serialization;

/// <summary>Named layers saved and loaded together under PyTorch's prefixed names, all or nothing.</summary>
public class NormModuleCollectionTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-collection-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private static NormModuleCollection Model(out BatchNorm2d bn1, out BatchNorm2d<double> deep, out InstanceNorm1d norm)
    {
        bn1 = new BatchNorm2d(3);
        deep = new BatchNorm2d<double>(4, momentum: null);
        norm = new InstanceNorm1d(2, affine: true, trackRunningStats: true);
        return new NormModuleCollection("Net") { ["bn1"] = bn1, ["layer1.0.bn1"] = deep, ["head.norm"] = norm };
    }

    private static void Train(BatchNorm2d bn1, BatchNorm2d<double> deep, InstanceNorm1d norm)
    {
        for (int i = 0; i < 3; i++)
        {
            bn1.Forward(Random(i, 4, 3, 2, 2));
            deep.Forward(Random<double>(i, 1, 2, 4, 4, 2, 2));
            norm.Forward(Random(i, 3, 2, 5));
        }

        bn1.Weight!.Data[1] = 2.5f;
        norm.Bias!.Data[0] = -1f;
    }

    [Fact]
    public void StateDict_UsesPrefixedPyTorchNames_InOrder()
    {
        NormModuleCollection model = Model(out _, out _, out _);
        Assert.Equal(
            ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
             "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var", "layer1.0.bn1.num_batches_tracked",
             "head.norm.weight", "head.norm.bias", "head.norm.running_mean", "head.norm.running_var", "head.norm.num_batches_tracked"],
            model.StateDict().Keys);
    }

    [Fact]
    public void SaveThenLoad_RestoresEveryValueAndCounter()
    {
        NormModuleCollection source = Model(out var bn1, out var deep, out var norm);
        Train(bn1, deep, norm);
        string path = Path.Combine(folder, "model.safetensors");
        source.SaveSafeTensors(path);

        NormModuleCollection target = Model(out var bn1b, out var deepb, out var normb);
        LoadStateDictResult result = target.LoadSafeTensors(path);
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(Values(bn1.Weight!.Data), Values(bn1b.Weight!.Data));
        Assert.Equal(Values(bn1.RunningVar!), Values(bn1b.RunningVar!));
        Assert.Equal(Values(deep.RunningMean!), Values(deepb.RunningMean!));
        Assert.Equal(Values(norm.Bias!.Data), Values(normb.Bias!.Data));
        Assert.Equal(3L, deepb.NumBatchesTracked);
        Assert.Equal(StateDType.Float64, SafeTensors.ReadFile(path).Tensors["layer1.0.bn1.running_mean"].DType);
    }

    [Fact]
    public void StrictLoad_ReportsMissingUnexpectedAndMismatchedKeysByFullName_InOneError_AndChangesNothing()
    {
        NormModuleCollection source = Model(out var bn1, out var deep, out var norm);
        Train(bn1, deep, norm);
        StateDict state = source.StateDict();
        state.Remove("layer1.0.bn1.running_var");
        state["fc.weight"] = StateTensor.FromSingles([1f], 1);
        state["head.norm.weight"] = StateTensor.FromSingles([1f, 2f, 3f], 3);

        NormModuleCollection target = Model(out var bn1b, out _, out _);
        StateDict before = target.StateDict();
        var e = Assert.Throws<ArgumentException>(() => target.LoadStateDict(state));
        Assert.Equal(
            "Error(s) in loading state_dict for Net:\n" +
            "\tMissing key(s) in state_dict: \"layer1.0.bn1.running_var\". \n" +
            "\tUnexpected key(s) in state_dict: \"fc.weight\". \n" +
            "\tsize mismatch for head.norm.weight: copying a param with shape [3] from checkpoint, the shape in current model is [2].",
            e.Message);
        StateDict after = target.StateDict();
        foreach (string key in before.Keys) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());
        Assert.Equal(0L, bn1b.NumBatchesTracked);
    }

    [Fact]
    public void NonStrictLoad_LoadsWhatFits_AndReturnsTheKeysByFullName()
    {
        NormModuleCollection source = Model(out var bn1, out var deep, out var norm);
        Train(bn1, deep, norm);
        StateDict state = source.StateDict();
        state.Remove("bn1.bias");
        state["extra.running_mean"] = StateTensor.FromSingles([0f], 1);
        NormModuleCollection target = Model(out var bn1b, out _, out _);
        LoadStateDictResult result = target.LoadStateDict(state, strict: false);
        Assert.Equal(["bn1.bias"], result.MissingKeys);
        Assert.Equal(["extra.running_mean"], result.UnexpectedKeys);
        Assert.Equal(2.5f, bn1b.Weight!.Data[1]);
    }

    [Fact]
    public void FileWithoutCounters_LoadsWithTheCounterAtZero_TheVersion1Migration()
    {
        NormModuleCollection source = Model(out var bn1, out var deep, out var norm);
        Train(bn1, deep, norm);
        var state = new StateDict();
        foreach (var (key, value) in source.StateDict())
            if (!key.EndsWith("num_batches_tracked", StringComparison.Ordinal)) state[key] = value;
        string path = Path.Combine(folder, "old.safetensors");
        SafeTensors.WriteFile(path, state);

        NormModuleCollection target = Model(out var bn1b, out var deepb, out _);
        bn1b.Forward(Random(9, 4, 3, 2, 2));
        target.LoadSafeTensors(path, strict: true);
        Assert.Equal(0L, bn1b.NumBatchesTracked);
        Assert.Equal(0L, deepb.NumBatchesTracked);
        Assert.Equal(Values(deep.RunningMean!), Values(deepb.RunningMean!));
    }

    [Fact]
    public void PerModuleVersions_GiveEachLayerItsOwn_AsPyTorchsMetadataDoes()
    {
        // PyTorch's _metadata: "a" saved at version 1 (before the counter existed), "b" at version 2; neither has a counter.
        var a = new BatchNorm1d(2);
        var b = new BatchNorm1d(2);
        var model = new NormModuleCollection { ["a"] = a, ["b"] = b };
        var state = new StateDict { ModuleVersions = new Dictionary<string, int?> { [""] = 1, ["a"] = 1, ["b"] = 2 } };
        foreach (string layer in new[] { "a", "b" })
            foreach (string key in new[] { "weight", "bias", "running_mean", "running_var" })
                state[$"{layer}.{key}"] = StateTensor.FromSingles([1f, 2f], 2);
        Assert.Equal(1, state.VersionOf("a"));
        Assert.Equal(2, state.VersionOf("b"));
        Assert.Null(state.VersionOf("c"));

        LoadStateDictResult result = model.LoadStateDict(state, strict: false);
        Assert.Equal(["b.num_batches_tracked"], result.MissingKeys);
        Assert.Equal(0L, a.NumBatchesTracked);

        var e = Assert.Throws<ArgumentException>(() => new NormModuleCollection("Net") { ["a"] = new BatchNorm1d(2), ["b"] = new BatchNorm1d(2) }.LoadStateDict(state));
        Assert.Equal("Error(s) in loading state_dict for Net:\n\tMissing key(s) in state_dict: \"b.num_batches_tracked\". ", e.Message);
    }

    [Fact]
    public void ModuleVersions_WithoutAnEntry_MeanNoVersion_AndOneLayerUsesTheRoots()
    {
        var state = new StateDict(2) { ModuleVersions = new Dictionary<string, int?> { ["other"] = 2 } };
        Assert.Null(state.VersionOf(""));
        Assert.Equal(2, new StateDict(2).VersionOf("anything"));
        foreach (string key in new[] { "weight", "bias", "running_mean", "running_var" }) state[key] = StateTensor.FromSingles([1f], 1);
        var bn = new BatchNorm1d(1);
        bn.LoadStateDict(state);   // the root has no version: the counter migration applies
        Assert.Equal(0L, bn.NumBatchesTracked);
        Assert.Equal(state.ModuleVersions, state.ToFloatingType(StateDType.Float64).ModuleVersions);
    }

    [Fact]
    public void LazyLayers_TakeTheirSizeFromTheCheckpoint()
    {
        NormModuleCollection source = Model(out var bn1, out var deep, out var norm);
        Train(bn1, deep, norm);
        var lazy = new LazyBatchNorm2d<double>();
        var target = new NormModuleCollection { ["layer1.0.bn1"] = lazy };
        LoadStateDictResult result = target.LoadStateDict(source.StateDict(), strict: false);
        Assert.Equal(4, lazy.NumFeatures);
        Assert.Equal(Values(deep.RunningVar!), Values(lazy.RunningVar!));
        Assert.Contains("bn1.weight", result.UnexpectedKeys);
    }

    [Fact]
    public void Names_MustBeModulePaths_AndTheLongestNameOwnsAKey()
    {
        var outer = new BatchNorm1d(2);
        var inner = new BatchNorm1d(3);
        var model = new NormModuleCollection { ["a"] = outer, ["a.b"] = inner };
        model.LoadStateDict(model.StateDict());
        Assert.Throws<ArgumentException>(() => model.Add("a", new BatchNorm1d(2)));
        Assert.Throws<ArgumentException>(() => model["x..y"] = new BatchNorm1d(2));
        Assert.Equal(2, model.Count);
    }
}
