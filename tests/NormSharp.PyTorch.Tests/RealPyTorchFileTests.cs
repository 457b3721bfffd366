using System.Text.Json;
using NormSharp.PyTorch.Tests.Support;

namespace NormSharp.PyTorch.Tests;

/// <summary>Files written by real PyTorch (1.13, Debian's python3-torch) read as PyTorch reads them back.</summary>
public class RealPyTorchFileTests
{
    public static TheoryData<string> StateDictFiles() =>
        ["resnet.pt", "resnet_protocol4.pt", "resnet_float64.pt", "resnet_float16.pt", "resnet_bfloat16.pt", "old_versions.pt", "views.pt"];

    [Theory]
    [MemberData(nameof(StateDictFiles))]
    public void StateDictFile_ReadsEveryTensor_WithPyTorchsDTypesShapesAndValues(string name)
    {
        PyTorchCheckpointFile file = PyTorchCheckpoint.ReadFile(Fixtures.Path(name));
        JsonElement expected = Fixtures.Expected.GetProperty(name).GetProperty("tensors");
        Assert.Equal(expected.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (JsonProperty tensor in expected.EnumerateObject())
            Fixtures.AssertMatches(tensor.Value, file.Tensors[tensor.Name], $"{name}: {tensor.Name}");
        Assert.Empty(file.Skipped);
    }

    [Fact]
    public void ResNetStyleFile_KeepsTheKeysInPyTorchsOrder_WithNestedNames()
    {
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet.pt")).Tensors;
        Assert.Equal(["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight"], state.Keys.Take(7));
        Assert.Contains("layer2.0.downsample.1.running_var", state.Keys);
        Assert.Equal(StateDType.Int64, state["layer1.0.bn1.num_batches_tracked"].DType);
        Assert.Empty(state["layer1.0.bn1.num_batches_tracked"].Shape);
        Assert.Equal([5L], state["layer1.0.bn1.num_batches_tracked"].ToInt64s());
    }

    [Fact]
    public void Metadata_GivesEveryModulesVersion_AndTheRootsAsTheVersion()
    {
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet.pt")).Tensors;
        JsonElement metadata = Fixtures.Expected.GetProperty("resnet.pt").GetProperty("metadata");
        Assert.NotNull(state.ModuleVersions);
        Assert.Equal(metadata.EnumerateObject().Select(p => (p.Name, (int?)p.Value.GetProperty("version").GetInt32())).Order(),
                     state.ModuleVersions!.Select(p => (p.Key, p.Value)).Order());
        Assert.Equal(1, state.Version);
        Assert.Equal(2, state.VersionOf("layer1.0.bn1"));
        Assert.Equal(1, state.VersionOf("layer1.0.conv1"));
        Assert.Null(state.VersionOf("no.such.module"));
    }

    [Fact]
    public void PlainDict_HasNoVersions()
    {
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path("views.pt")).Tensors;
        Assert.Null(state.ModuleVersions);
        Assert.Null(state.Version);
        Assert.Null(state.VersionOf("bn"));
    }

    [Fact]
    public void Views_AreCopiedInRowMajorOrder_FromTheirOffsetsAndStrides()
    {
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path("views.pt")).Tensors;
        double Base(int row, int column) => (8 * row + column) / 4.0 - 3;
        Assert.Equal(Enumerable.Range(0, 8).Select(c => Base(2, c)), state["row"].ToDoubles());
        Assert.Equal(Enumerable.Range(0, 6).Select(r => Base(r, 3)), state["column"].ToDoubles());
        Assert.Equal([8L, 6L], state["transposed"].Shape);
        Assert.Equal(Enumerable.Range(0, 8).SelectMany(c => Enumerable.Range(0, 6).Select(r => Base(r, c))), state["transposed"].ToDoubles());
        Assert.Equal(new[] { (1, 0), (1, 3), (1, 6), (3, 0), (3, 3), (3, 6) }.Select(p => Base(p.Item1, p.Item2)), state["strided"].ToDoubles());
        Assert.Empty(state["scalar"].Shape);
        Assert.Equal([Base(4, 5)], state["scalar"].ToDoubles());
        Assert.Equal([6L, 0L], state["empty"].Shape);
        Assert.Equal(0, state["empty"].Count);
        Assert.Equal([1.5, -2, 3.25, 1.5, -2, 3.25, 1.5, -2, 3.25, 1.5, -2, 3.25], state["expanded"].ToDoubles());
        Assert.Equal(StateDType.Float64, state["tail_of_unsaved"].DType);
        Assert.Equal(4, state["tail_of_unsaved"].Count);
    }

    [Fact]
    public void OldVersionsFile_LoadsIntoACollection_AsPyTorchsLoadStateDictDoes()
    {
        // bn1 was saved at version 1 without its counter (the migration supplies 0); layer1.0.bn2 at version 2 without it.
        JsonElement expected = Fixtures.Expected.GetProperty("old_versions.pt");
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path("old_versions.pt")).Tensors;
        NormModuleCollection model = ResNetNorms();
        var bn1 = (BatchNorm2d)model["bn1"];
        StateDict counted = bn1.StateDict();
        counted["num_batches_tracked"] = StateTensor.Scalar(99);
        bn1.LoadStateDict(counted);
        LoadStateDictResult result = model.LoadStateDict(state, strict: false);
        JsonElement nonStrict = expected.GetProperty("non_strict");
        Assert.Equal(nonStrict.GetProperty("missing").EnumerateArray().Select(e => e.GetString()), result.MissingKeys);
        Assert.Equal(nonStrict.GetProperty("bn1.num_batches_tracked").GetInt64(), ((BatchNorm2d)model["bn1"]).NumBatchesTracked);
        Assert.Equal(5L, ((BatchNorm2d)model["layer1.0.bn1"]).NumBatchesTracked);

        // Strict, over the normalization layers' keys only: PyTorch's error, word for word.
        var norms = new StateDict { ModuleVersions = state.ModuleVersions, Version = state.Version };
        foreach (var (key, value) in state) if (key.Contains("bn", StringComparison.Ordinal) || key.Contains("downsample.1", StringComparison.Ordinal)) norms[key] = value;
        var e = Assert.Throws<ArgumentException>(() => ResNetNorms().LoadStateDict(norms, strict: true));
        Assert.Equal(expected.GetProperty("strict_error").GetString(), e.Message);
    }

    [Fact]
    public void ResNetStyleFile_LoadsIntoACollection_WithTheFilesValues()
    {
        NormModuleCollection model = ResNetNorms();
        LoadStateDictResult result = model.LoadPyTorchCheckpoint(Fixtures.Path("resnet.pt"), strict: false);
        Assert.Empty(result.MissingKeys);
        Assert.All(result.UnexpectedKeys, k => Assert.True(k.Contains("conv", StringComparison.Ordinal) || k.StartsWith("fc.", StringComparison.Ordinal) || k.EndsWith("downsample.0.weight", StringComparison.Ordinal), k));
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet.pt")).Tensors;
        foreach (var (key, value) in model.StateDict()) Assert.Equal(state[key].ToDoubles(), value.ToDoubles());
    }

    [Theory]
    [InlineData("resnet_float64.pt")]
    [InlineData("resnet_float16.pt")]
    [InlineData("resnet_bfloat16.pt")]
    public void HalfAndDoubleFiles_LoadIntoDoubleLayers_Exactly(string name)
    {
        var bn = new BatchNorm2d<double>(8);
        var model = new NormModuleCollection("ResNetStyle") { ["bn1"] = bn };
        model.LoadPyTorchCheckpoint(Fixtures.Path(name), strict: false);
        StateDict state = PyTorchCheckpoint.ReadFile(Fixtures.Path(name)).Tensors;
        Assert.Equal(state["bn1.running_var"].ToDoubles(), bn.RunningVar!.ToArray());
    }

    [Fact]
    public void TrainingCheckpoint_NamesItsDictEntries_AndReadsTheOneAsked()
    {
        var e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile(Fixtures.Path("checkpoint.pt")));
        Assert.Equal("the file holds a dict whose entry \"epoch\" is an int, not a tensor: it is not a state dict; to read one of its " +
                     "dict entries (\"model\", \"optimizer\") as the state dict, pass its key as entry (CLI: --entry).", e.Message);

        StateDict model = PyTorchCheckpoint.ReadFile(Fixtures.Path("checkpoint.pt"), entry: "model").Tensors;
        foreach (JsonProperty tensor in Fixtures.Expected.GetProperty("checkpoint.pt").GetProperty("model").EnumerateObject())
            Fixtures.AssertMatches(tensor.Value, model[tensor.Name], tensor.Name);
        Assert.Equal(2, model.VersionOf("bn1"));

        e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile(Fixtures.Path("checkpoint.pt"), entry: "optimizer"));
        Assert.Contains("entry \"state\" of the state dict is a dict, not a tensor", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile(Fixtures.Path("checkpoint.pt"), entry: "weights"));
        Assert.Equal("the file's dict has no entry \"weights\"; its entries are \"epoch\", \"model\", \"optimizer\", \"best_accuracy\".", e.Message);
    }

    [Fact]
    public void LegacyFormat_IsRefused_WithHowToResaveIt()
    {
        Assert.Equal(PyTorchFileFormat.Legacy, PyTorchCheckpoint.DetectFormat(Fixtures.Bytes("legacy.pt").AsSpan(0, 16)));
        var e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile(Fixtures.Path("legacy.pt")));
        Assert.StartsWith("this is a torch.save file in the legacy format (PyTorch before 1.6, or _use_new_zipfile_serialization=False), which is not supported: " +
                          "re-save it with torch.save(..., _use_new_zipfile_serialization=True) or convert it with PyTorch 1.6 or later", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("malicious_os_system.pt", "posix.system")]
    [InlineData("malicious_eval.pt", "__builtin__.eval")]
    [InlineData("malicious_popen.pt", "commands.Popen")]
    public void MaliciousFile_IsRefusedNamingTheGlobal_AsPyTorchRefusesIt(string name, string global)
    {
        // PyTorch's own weights-only load refused the same global when the fixture was written.
        Assert.EndsWith($"Unsupported class {global}", Fixtures.Expected.GetProperty(name).GetProperty("weights_only_error").GetString(), StringComparison.Ordinal);
        var e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile(Fixtures.Path(name)));
        Assert.Contains($"the pickle asks for the global {global} (GLOBAL), which is not on the allow-list of a weights-only load: refused, nothing was run", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists("/tmp/normsharp-fixture-pwned"));
    }

    /// <summary>The ResNet-style model's normalization layers under its names.</summary>
    internal static NormModuleCollection ResNetNorms() => new("ResNetStyle")
    {
        ["bn1"] = new BatchNorm2d(8),
        ["layer1.0.bn1"] = new BatchNorm2d(8),
        ["layer1.0.bn2"] = new BatchNorm2d(8),
        ["layer1.1.bn1"] = new BatchNorm2d(8),
        ["layer1.1.bn2"] = new BatchNorm2d(8),
        ["layer2.0.bn1"] = new BatchNorm2d(16),
        ["layer2.0.bn2"] = new BatchNorm2d(16),
        ["layer2.0.downsample.1"] = new BatchNorm2d(16),
    };
}
