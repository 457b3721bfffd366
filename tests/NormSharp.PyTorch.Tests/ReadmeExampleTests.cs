using NormSharp.PyTorch.Tests.Support;
using NormSharp.Serialization;

namespace NormSharp.PyTorch.Tests;

/// <summary>The README's PyTorch checkpoints example, run on the fixtures (channel counts as in the fixture's model).</summary>
public class ReadmeExampleTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-pt-readme-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void ReadmeExample_Runs()
    {
        string resnet = Fixtures.Path("resnet.pt"), checkpoint = Fixtures.Path("checkpoint.pt"), converted = Path.Combine(folder, "resnet.safetensors");

        // --- README PyTorch checkpoints example (keep in sync with README.md) ---
        StateDict state = PyTorchCheckpoint.ReadFile(resnet).Tensors;
        var model = new NormModuleCollection("ResNet") { ["bn1"] = new BatchNorm2d(8), ["layer1.0.bn1"] = new BatchNorm2d(8) };
        LoadStateDictResult result = model.LoadPyTorchCheckpoint(resnet, strict: false);
        StateDict weights = PyTorchCheckpoint.ReadFile(checkpoint, entry: "model").Tensors;
        PyTorchCheckpoint.ConvertToSafeTensors(resnet, converted);
        // --- end ---

        Assert.Equal(50, state.Count);
        Assert.Empty(result.MissingKeys);
        Assert.Equal(state["layer1.0.bn1.running_var"].ToDoubles(), model.StateDict()["layer1.0.bn1.running_var"].ToDoubles());
        Assert.Equal(50, weights.Count);
        Assert.Equal(state.Keys, SafeTensors.ReadFile(converted).Tensors.Keys);
    }
}
