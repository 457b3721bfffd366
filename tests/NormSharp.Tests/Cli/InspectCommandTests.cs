using System.Text.Json;
using NormSharp.Cli;
using NormSharp.Cli.Inspection;
using NormSharp.Cli.Rendering;
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
        var (code, output, error) = Run("inspect", Checkpoint(), "--width", "200");
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.Contains("3 normalization layer(s) among 16 tensor(s)", output, StringComparison.Ordinal);
        string[] lines = output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("| layer1.0.bn1 ", StringComparison.Ordinal) && l.Contains("| 4 ", StringComparison.Ordinal) && l.Contains("| F32 ", StringComparison.Ordinal) && l.Contains("| 5 ", StringComparison.Ordinal) && l.EndsWith("| none      |", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("| layer1.0.bn2 ", StringComparison.Ordinal) && l.Contains("| F64 ", StringComparison.Ordinal) && l.EndsWith("| 1         |", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("| head.norm ", StringComparison.Ordinal) && l.EndsWith("| 4         |", StringComparison.Ordinal));
        Assert.Contains("2 layer(s) with anomalies:", lines);
        Assert.Contains("! layer1.0.bn2: num_batches_tracked is 0: untrained running statistics (for BatchNorm; InstanceNorm never counts)", lines);
        Assert.Contains("! head.norm: running_var <= 0 in 1 channel(s)", lines);
        Assert.Contains("! head.norm: running_var NaN or infinite in 1 channel(s)", lines);
        Assert.Contains("! head.norm: near-zero weight (|w| < 0.001) in 1 channel(s)", lines);
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
        Assert.StartsWith($"error: {path}: ", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }

    /// <summary>A checkpoint whose one layer has the given running statistics (and names with whatever characters).</summary>
    private string CheckpointWith(string layer, float[] mean, float[] variance, string file = "odd.safetensors")
    {
        var state = new StateDict
        {
            [$"{layer}.running_mean"] = StateTensor.FromSingles(mean, mean.Length),
            [$"{layer}.running_var"] = StateTensor.FromSingles(variance, variance.Length),
            [$"{layer}.num_batches_tracked"] = StateTensor.Scalar(3),
        };
        string path = Path.Combine(folder, file);
        SafeTensors.WriteFile(path, state);
        return path;
    }

    [Fact]
    public void InspectJson_NonFiniteStatistics_AreWrittenAsTheDocumentedStrings()
    {
        string path = CheckpointWith("bn", [float.NaN, 1f, float.NegativeInfinity], [float.PositiveInfinity, 1f, 2f]);
        var (code, output, error) = Run("inspect", path, "--json");
        Assert.Equal(0, code);
        Assert.Empty(error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement layer = Assert.Single(doc.RootElement.EnumerateArray().ToArray());
        JsonElement mean = layer.GetProperty("runningMean"), variance = layer.GetProperty("runningVar");
        Assert.Equal("-Infinity", mean.GetProperty("min").GetString());
        Assert.Equal("-Infinity", mean.GetProperty("mean").GetString());
        Assert.Equal(1.0, mean.GetProperty("max").GetDouble());
        Assert.Equal(1.0, variance.GetProperty("min").GetDouble());
        Assert.Equal("Infinity", variance.GetProperty("mean").GetString());
        Assert.Equal("Infinity", variance.GetProperty("max").GetString());
        Assert.Contains("running_var NaN or infinite in 1 channel(s)", layer.GetProperty("anomalies").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public void Inspect_NonFiniteStatistics_AreShownInTheTable()
    {
        string path = CheckpointWith("bn", [float.NaN, float.NaN], [float.PositiveInfinity, float.NaN]);
        var (code, output, error) = Run("inspect", path, "--width", "200");
        Assert.Equal(0, code);
        Assert.Empty(error);
        string row = Assert.Single(output.Split('\n'), l => l.StartsWith("| bn ", StringComparison.Ordinal));
        Assert.Contains("| Infinity / Infinity / Infinity ", row, StringComparison.Ordinal);
        Assert.Contains("! bn: running_mean NaN or infinite in 2 channel(s)", output.Split('\n'));
    }

    [Fact]
    public void Inspect_NamesWithControlCharacters_ArePrintedEscaped_InTheTableAndTheJson()
    {
        const string layer = "evil\u001b[2J\u001b]0;pwned\u0007\u202e.bn";
        string path = CheckpointWith(layer, [0f], [1f], "evil\u001b[31m.safetensors");

        var (code, output, _) = Run("inspect", path, "--width", "200");
        Assert.Equal(0, code);
        Assert.DoesNotContain(output, c => char.IsControl(c) && c != '\n' || c == '\u202e');
        Assert.Contains("| evil\\u001B[2J\\u001B]0;pwned\\u0007\\u202E.bn ", output, StringComparison.Ordinal);
        Assert.Contains("evil\\u001B[31m.safetensors: 1 normalization layer(s)", output, StringComparison.Ordinal);

        (code, output, _) = Run("inspect", path, "--json");
        Assert.Equal(0, code);
        Assert.DoesNotContain(output, c => char.IsControl(c) && c is not ('\n' or '\r' or ' '));
        using JsonDocument doc = JsonDocument.Parse(output);
        Assert.Equal(layer, doc.RootElement[0].GetProperty("name").GetString());
    }

    [Fact]
    public void BadFile_WhoseErrorQuotesANameWithControlCharacters_IsPrintedEscaped()
    {
        string header = "{\"a\\u001b[2J\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + 4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        string path = Path.Combine(folder, "bad.safetensors");
        File.WriteAllBytes(path, bytes);

        var (code, _, error) = Run("inspect", path);
        Assert.Equal(1, code);
        Assert.Contains("tensor \"a\\u001B[2J\": shape [2] of F32 needs 8 bytes", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_Directory_IsAOneLineErrorSayingSo_NotAccessDenied()
    {
        var (code, output, error) = Run("inspect", folder);
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Equal($"error: {folder}: the path is a directory, not a file.", CliHarness.AssertOneLineError(error));
    }

    [Fact]
    public void Inspect_FifoWithoutAWriter_FailsAtOnceInsteadOfBlocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        string fifo = Serialization.SpecialFileTests.MakeFifo(folder);
        (int Code, string Output, string Error) result = (-1, "", "");
        Assert.Null(Serialization.SpecialFileTests.ReadWithin(TimeSpan.FromSeconds(20), () => result = Run("inspect", fifo), fifo));
        Assert.Equal(1, result.Code);
        Assert.StartsWith($"error: {fifo}: the path is a FIFO (named pipe)", CliHarness.AssertOneLineError(result.Error), StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_EmptyPath_IsAOneLineUsageError()
    {
        var (code, output, error) = Run("inspect", "");
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Equal("error: FILE is empty; give the path of a checkpoint.", CliHarness.AssertOneLineError(error));
    }

    [Fact]
    public void Inspect_OfALazyLayersStateDict_FlagsTheUninitializedEntries_WithoutValues()
    {
        // No file format holds uninitialized entries (safetensors cannot, a weights-only torch.load refuses them), but the
        // inspection API takes any state dict: a lazy layer's before its first forward is reported, not a crash.
        var model = new NormModuleCollection { ["stem.bn"] = new LazyBatchNorm2d(), ["head.bn"] = new BatchNorm1d<double>(3) };
        IReadOnlyList<NormLayerReport> layers = CheckpointInspection.Inspect(model.StateDict());
        Assert.Equal(2, layers.Count);
        var lazy = layers[0];
        Assert.Equal("stem.bn", lazy.Name);
        Assert.Equal(0, lazy.Channels);
        Assert.Equal("F32", lazy.DType);
        Assert.Equal(0L, lazy.Counter);
        Assert.Null(lazy.RunningMean);
        Assert.Null(lazy.Weight);
        Assert.Contains("weight, bias, running_mean, running_var uninitialized: a lazy layer before its first forward (no shape, no values)", lazy.Anomalies);
        Assert.DoesNotContain("no running_mean", lazy.Anomalies);
        Assert.Equal(3, layers[1].Channels);

        var output = new StringWriter();
        ConsoleFactory.Render(output, 200, console =>
            InspectRenderer.Write(console, "model", layers, model.StateDict().Count, 0));
        Assert.Contains("! stem.bn: weight, bias, running_mean, running_var uninitialized", output.ToString(), StringComparison.Ordinal);
    }
}
