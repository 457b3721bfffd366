using NormSharp.Serialization;
using NormSharp.PyTorch.Tests.Support;
using NormSharp.Tests.Cli;

namespace NormSharp.PyTorch.Tests.Cli;

/// <summary>The CLI on torch.save files: inspect tells the format from the first bytes, convert writes safetensors, and
/// every failure is one line on stderr with exit code 1 (bad data) or 2 (bad usage).</summary>
public class PyTorchCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-pt-cli-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void Inspect_TorchSaveFile_ListsItsNormalizationLayers()
    {
        var (code, output, error) = CliHarness.Run("inspect", Fixtures.Path("resnet.pt"), "--width", "300");
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.Contains("resnet.pt: 8 normalization layer(s) among 50 tensor(s)", output, StringComparison.Ordinal);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("| layer2.0.downsample.1 ", StringComparison.Ordinal) && l.Contains("| 16 ", StringComparison.Ordinal) && l.Contains("| F32 ", StringComparison.Ordinal) && l.Contains("| 5 ", StringComparison.Ordinal));
        Assert.Contains("no anomalies.", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_TrainingCheckpoint_ReadsTheEntryAsked()
    {
        var (code, output, _) = CliHarness.Run("inspect", Fixtures.Path("checkpoint.pt"), "--entry", "model", "--width", "300");
        Assert.Equal(0, code);
        Assert.Contains("8 normalization layer(s) among 50 tensor(s)", output, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadFiles() => new()
    {
        { "legacy.pt", "this is a torch.save file in the legacy format" },
        { "malicious_os_system.pt", "the pickle asks for the global posix.system (GLOBAL), which is not on the allow-list of a weights-only load: refused, nothing was run." },
        { "checkpoint.pt", "the file holds a dict whose entry \"epoch\" is an int, not a tensor" },
        // torch.save(nn.LazyBatchNorm2d().state_dict()): PyTorch's weights-only load refuses UninitializedParameter too.
        { "lazy.pt", "the pickle asks for the global torch.nn.parameter.UninitializedParameter (GLOBAL), which is not on the allow-list of a weights-only load: refused, nothing was run (a lazy layer's uninitialized tensor: the state dict was saved before the layer's first forward, and PyTorch's weights-only load refuses it too; save after a forward)" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void InspectAndConvert_RefusedTorchSaveFile_AreOneLineErrorsWithExitCode1(string name, string message)
    {
        string path = Fixtures.Path(name);
        foreach (string[] args in new[] { new[] { "inspect", path }, ["convert", path, Path.Combine(folder, "out.safetensors")] })
        {
            var (code, output, error) = CliHarness.Run(args);
            Assert.Equal(1, code);
            Assert.Empty(output);
            Assert.StartsWith($"error: {path}: ", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
            Assert.Contains(message, error, StringComparison.Ordinal);
        }

        Assert.False(File.Exists(Path.Combine(folder, "out.safetensors")));
    }

    [Theory]
    [InlineData("", "the file is empty, not a checkpoint.")]
    [InlineData("epoch 3, loss 0.25\n", "the file is text, not a checkpoint (safetensors or torch.save).")]
    [InlineData("\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u0010", "the file is neither a safetensors file nor a torch.save file.")]
    public void Inspect_FileOfNoCheckpointFormat_SaysWhatItIs(string content, string message)
    {
        string path = Path.Combine(folder, "model.pt");
        File.WriteAllText(path, content);
        var (code, _, error) = CliHarness.Run("inspect", path);
        Assert.Equal(1, code);
        Assert.Equal($"error: {path}: {message}", CliHarness.AssertOneLineError(error));
    }

    [Fact]
    public void Inspect_ZipThatIsNotTorchSave_IsNotReadAsABrokenSafeTensorsHeader()
    {
        string path = Path.Combine(folder, "other.zip");
        File.WriteAllBytes(path, RawZip.Create([new("readme.txt", "hello"u8.ToArray())]));
        var (code, _, error) = CliHarness.Run("inspect", path);
        Assert.Equal(1, code);
        Assert.Equal($"error: {path}: this zip archive has no ARCHIVE/data.pkl: it is not a torch.save file.", CliHarness.AssertOneLineError(error));
    }

    [Fact]
    public void Convert_WritesSafeTensorsWithTheSameTensors_AndSaysWhatItWrote()
    {
        string target = Path.Combine(folder, "resnet.safetensors");
        var (code, output, error) = CliHarness.Run("convert", Fixtures.Path("resnet_float16.pt"), target);
        Assert.Equal(0, code);
        Assert.Empty(error);
        long bytes = new FileInfo(target).Length;
        Assert.Equal($"{Fixtures.Path("resnet_float16.pt")} (torch.save) -> {target}: 50 tensor(s) (42 F16, 8 I64), {bytes:N0} bytes{Environment.NewLine}", output);

        StateDict original = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet_float16.pt")).Tensors;
        StateDict converted = SafeTensors.ReadFile(target).Tensors;
        Assert.Equal(original.Keys, converted.Keys);
        foreach (var (key, tensor) in original)
        {
            Assert.Equal(tensor.DType, converted[key].DType);
            Assert.Equal(tensor.Shape, converted[key].Shape);
            Assert.Equal(tensor.ToDoubles(), converted[key].ToDoubles());
        }

        // And the converted file inspects as the original does.
        Assert.Contains("8 normalization layer(s) among 50 tensor(s)", CliHarness.Run("inspect", target, "--width", "300").Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_ThatFails_LeavesAnExistingOutputAsItWas()
    {
        string target = Path.Combine(folder, "keep.safetensors");
        File.WriteAllText(target, "old");
        var (code, _, _) = CliHarness.Run("convert", Fixtures.Path("malicious_eval.pt"), target);
        Assert.Equal(1, code);
        Assert.Equal("old", File.ReadAllText(target));
        Assert.Single(Directory.GetFiles(folder));
    }

    [Fact]
    public void Convert_IntoAMissingFolder_IsAOneLineErrorWithExitCode1()
    {
        string target = Path.Combine(folder, "no", "such", "out.safetensors");
        var (code, output, error) = CliHarness.Run("convert", Fixtures.Path("resnet.pt"), target);
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.StartsWith($"error: {target}: ", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "x.safetensors", "INPUT and OUTPUT must not be empty")]
    [InlineData("same.pt", "same.pt", "OUTPUT is INPUT")]
    public void Convert_BadPaths_AreOneLineUsageErrors(string input, string target, string message)
    {
        var (code, output, error) = CliHarness.Run("convert", input, target);
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Contains(message, CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_WithoutOutput_IsAUsageError()
    {
        var (code, _, error) = CliHarness.Run("convert", Fixtures.Path("resnet.pt"));
        Assert.Equal(2, code);
        CliHarness.AssertOneLineError(error);
    }

    [Fact]
    public void Inspect_EntryOnASafeTensorsFile_IsAnError()
    {
        string path = Path.Combine(folder, "a.safetensors");
        SafeTensors.WriteFile(path, new StateDict { ["bn.running_var"] = StateTensor.FromSingles([1f], 1) });
        var (code, _, error) = CliHarness.Run("inspect", path, "--entry", "model");
        Assert.Equal(1, code);
        Assert.Contains("--entry applies to torch.save files; this is a safetensors file.", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }
}
