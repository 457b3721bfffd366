using System.Text.Json;
using NormSharp.Cli;
using NormSharp.Serialization;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Cli;

/// <summary>The CLI's inspect command: the normalization layers of a checkpoint, anomalies flagged, bad files rejected.</summary>
public class InspectCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-inspect-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string Checkpoint()
    {
        var trained = new BatchNorm2d(4);
        for (int i = 0; i < 5; i++) trained.Forward(Random(i, 8, 4, 3, 3));
        var untrained = new BatchNorm2d<double>(3);
        var broken = new InstanceNorm1d(3, affine: true, trackRunningStats: true);
        broken.RunningVar![0] = -1f;
        broken.RunningVar![1] = float.NaN;
        broken.Weight!.Data[2] = 1e-5f;
        var model = new NormModuleCollection { ["layer1.0.bn1"] = trained, ["layer1.0.bn2"] = untrained, ["head.norm"] = broken };
        StateDict state = model.StateDict();
        state["fc.weight"] = StateTensor.FromSingles(new float[6], 2, 3);
        string path = Path.Combine(folder, "net.safetensors");
        SafeTensors.WriteFile(path, state);
        return path;
    }

    [Fact]
    public void Inspect_ListsTheNormalizationLayersWithTheirStatistics_AndFlagsAnomalies()
    {
        var (code, output, error) = Run("inspect", Checkpoint());
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.Contains("3 normalization layer(s) among 16 tensor(s)", output, StringComparison.Ordinal);
        string[] lines = output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("| layer1.0.bn1 ", StringComparison.Ordinal) && l.Contains("| 4 ", StringComparison.Ordinal) && l.Contains("| F32 ", StringComparison.Ordinal) && l.Contains("| 5 ", StringComparison.Ordinal) && l.Contains("| none", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("| layer1.0.bn2 ", StringComparison.Ordinal) && l.Contains("| F64 ", StringComparison.Ordinal) && l.Contains("num_batches_tracked is 0", StringComparison.Ordinal));
        string head = Assert.Single(lines, l => l.StartsWith("| head.norm ", StringComparison.Ordinal));
        Assert.Contains("running_var <= 0 in 1 channel(s)", head, StringComparison.Ordinal);
        Assert.Contains("running_var NaN or infinite in 1 channel(s)", head, StringComparison.Ordinal);
        Assert.Contains("near-zero weight (|w| < 0.001) in 1 channel(s)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("fc", output, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectJson_GivesTheSameReportAsObjects()
    {
        var (code, output, _) = Run("inspect", Checkpoint(), "--json");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement[] layers = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(["layer1.0.bn1", "layer1.0.bn2", "head.norm"], layers.Select(l => l.GetProperty("name").GetString()));
        Assert.Equal(5, layers[0].GetProperty("counter").GetInt64());
        Assert.Equal(4, layers[2].GetProperty("anomalies").GetArrayLength());
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbage")]
    [InlineData("missing")]
    public void BadFile_IsAOneLineErrorWithExitCode1(string kind)
    {
        string path = Path.Combine(folder, kind + ".safetensors");
        if (kind == "truncated") File.WriteAllBytes(path, File.ReadAllBytes(Checkpoint())[..100]);
        if (kind == "garbage") File.WriteAllText(path, "this is not a checkpoint");
        var (code, output, error) = Run("inspect", path);
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"error: {path}: ", error, StringComparison.Ordinal);
    }
}
