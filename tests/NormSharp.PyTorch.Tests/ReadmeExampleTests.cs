using NormSharp.PyTorch.Tests.Support;
using NormSharp.Serialization;
using NormSharp.Tests.Cli;

namespace NormSharp.PyTorch.Tests;

/// <summary>The README's PyTorch checkpoints example, run on the fixtures (channel counts as in the fixture's model), and the
/// README's fold output.</summary>
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

    [Fact]
    public void ReadmeFoldOutput_IsWhatFoldPrintsOnTheResNetCheckpoint()
    {
        // The README's block is fold's output in a folder holding resnet.pt (short relative paths), laid out for 80 columns.
        File.Copy(Fixtures.Path("resnet.pt"), Path.Combine(folder, "resnet.pt"));
        string previous = Directory.GetCurrentDirectory();
        string output;
        lock (CurrentDirectoryLock)
        {
            Directory.SetCurrentDirectory(folder);
            try
            {
                var (code, text, error) = CliHarness.Run("fold", "resnet.pt", "resnet-folded.safetensors", "--auto");
                Assert.True(code == 0, error);
                output = text.ReplaceLineEndings("\n");
            }
            finally
            {
                Directory.SetCurrentDirectory(previous);
            }
        }

        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md")).ReplaceLineEndings("\n");
        const string Start = "```text\nresnet.pt (torch.save) -> resnet-folded.safetensors";
        int at = readme.IndexOf(Start, StringComparison.Ordinal);
        Assert.True(at >= 0, "the README's fold output is missing");
        string block = readme[(at + "```text\n".Length)..];
        Assert.Equal(block[..block.IndexOf("```", StringComparison.Ordinal)], output);
    }

    private static readonly object CurrentDirectoryLock = new();

    private static string RepositoryRoot()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "NormSharp.slnx"))) directory = Path.GetDirectoryName(directory);
        return directory ?? throw new InvalidOperationException("NormSharp.slnx not found above the test's folder.");
    }
}
