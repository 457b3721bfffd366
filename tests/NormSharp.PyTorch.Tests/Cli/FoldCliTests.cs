using System.Text.Json;
using NormSharp.PyTorch.Tests.Support;
using NormSharp.Serialization;
using NormSharp.Tests.Cli;

namespace NormSharp.PyTorch.Tests.Cli;

/// <summary><c>normsharp fold</c> on the ResNet-style checkpoint PyTorch 1.13 wrote: the folded tensors are those of PyTorch's
/// own <c>fuse_conv_bn_eval</c> (Fixtures/generate_fold_fixtures.py), refusals write nothing, usage errors exit 2.</summary>
public class FoldCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-fold-cli-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private string Output => Path.Combine(folder, "folded.safetensors");

    private static readonly string[] Pairs =
    [
        "conv1.weight=bn1", "layer1.0.conv1.weight=layer1.0.bn1", "layer1.0.conv2.weight=layer1.0.bn2", "layer1.1.conv1.weight=layer1.1.bn1",
        "layer1.1.conv2.weight=layer1.1.bn2", "layer2.0.conv1.weight=layer2.0.bn1", "layer2.0.conv2.weight=layer2.0.bn2",
        "layer2.0.downsample.0.weight=layer2.0.downsample.1",
    ];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Fold_ResNet_GivesPyTorchsFusedTensors_AndRemovesTheBatchNormKeys(bool automatic)
    {
        string[] args = automatic
            ? ["fold", Fixtures.Path("resnet.pt"), Output, "--auto", "--width", "1000"]
            : ["fold", Fixtures.Path("resnet.pt"), Output, "--pair", .. Pairs, "--width", "1000"];
        var (code, output, error) = CliHarness.Run(args);
        Assert.True(code == 0, error);
        Assert.Empty(error);
        Assert.Contains("8 pair(s) folded, 40 normalization tensor(s) removed, 18 tensor(s) written", output, StringComparison.Ordinal);
        Assert.Contains($"{(automatic ? 8 : 0)} pair(s) found by --auto", output, StringComparison.Ordinal);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("| layer2.0.downsample.0 ", StringComparison.Ordinal) && l.Contains("| layer2.0.downsample.1 | 16 | 5 ", StringComparison.Ordinal));

        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("fold_expected.json")));
        StateDict folded = SafeTensors.ReadFile(Output).Tensors;
        StateDict torch = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet_folded_by_pytorch.pt")).Tensors;
        Assert.Equal(expected.RootElement.GetProperty("keys").EnumerateArray().Select(k => k.GetString()), folded.Keys);
        Assert.Equal(torch.Keys, folded.Keys);
        foreach (string key in torch.Keys)
        {
            Assert.Equal(StateDType.Float32, folded[key].DType);
            Assert.Equal(torch[key].Shape, folded[key].Shape);
            double[] ours = folded[key].ToDoubles(), theirs = torch[key].ToDoubles();
            // PyTorch fuses in float32 (a few roundings); NormSharp in double, rounded once.
            for (int i = 0; i < ours.Length; i++)
                Assert.True(Math.Abs(ours[i] - theirs[i]) <= 1e-6 * Math.Abs(theirs[i]) + 1e-7, $"{key}[{i}]: {ours[i]:R} vs PyTorch {theirs[i]:R}");
        }

        Assert.True(expected.RootElement.GetProperty("max_output_difference").GetDouble() < 1e-6);   // PyTorch: the fused net computes the same
        string[] checks = output.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| layer ", StringComparison.Ordinal) && !l.StartsWith("| -", StringComparison.Ordinal))
                                .Select(l => l.Split('|')[5].Trim()).ToArray();
        Assert.Equal(8, checks.Length);
        Assert.All(checks, c => Assert.InRange(double.Parse(c, System.Globalization.CultureInfo.InvariantCulture), 1e-9, 1e-6));
    }

    [Theory]
    [InlineData("resnet_float16.pt", StateDType.Float16, 1e-3)]
    [InlineData("resnet_bfloat16.pt", StateDType.BFloat16, 1e-2)]
    [InlineData("resnet_float64.pt", StateDType.Float64, 1e-14)]
    public void Fold_KeepsTheWeightsDType_AndChecksTheTensorsAsStored(string name, StateDType dtype, double largestCheck)
    {
        var (code, output, error) = CliHarness.Run("fold", Fixtures.Path(name), Output, "--auto", "--width", "1000");
        Assert.True(code == 0, error);
        StateDict folded = SafeTensors.ReadFile(Output).Tensors;
        Assert.All(folded.Where(t => t.Key.StartsWith("layer", StringComparison.Ordinal) || t.Key.StartsWith("conv", StringComparison.Ordinal)),
                   t => Assert.Equal(dtype, t.Value.DType));
        double[] checks = [.. output.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| layer ", StringComparison.Ordinal) && !l.StartsWith("| -", StringComparison.Ordinal))
                                    .Select(l => double.Parse(l.Split('|')[5].Trim(), System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal(8, checks.Length);
        Assert.All(checks, c => Assert.InRange(c, 0, largestCheck));
    }

    [Fact]
    public void Fold_TrainingCheckpoint_ReadsTheEntryAsked()
    {
        var (code, output, error) = CliHarness.Run("fold", Fixtures.Path("checkpoint.pt"), Output, "--entry", "model", "--auto", "--width", "1000");
        Assert.True(code == 0, error);
        Assert.Contains("8 pair(s) folded", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Fold_ACounterOfZero_IsRefused_NothingIsWritten_UnlessForced()
    {
        StateDict tensors = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet.pt")).Tensors;
        tensors["layer1.0.bn2.num_batches_tracked"] = StateTensor.Scalar(0);
        string input = Path.Combine(folder, "untrained.safetensors");
        SafeTensors.WriteFile(input, tensors);

        var (code, output, error) = CliHarness.Run("fold", input, Output, "--auto");
        Assert.Equal(1, code);
        Assert.Empty(output);
        string line = CliHarness.AssertOneLineError(error);
        Assert.StartsWith($"error: {input}: layer1.0.conv2.weight=layer1.0.bn2: the BatchNorm2d has num_batches_tracked = 0", line, StringComparison.Ordinal);
        Assert.Contains("pass --force if the statistics were set on purpose", line, StringComparison.Ordinal);
        Assert.EndsWith("Nothing was written.", line, StringComparison.Ordinal);
        Assert.False(File.Exists(Output));

        (code, _, error) = CliHarness.Run("fold", input, Output, "--auto", "--force");
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Output));
    }

    [Fact]
    public void Fold_NegativeRunningVar_AndAMismatchedPair_AreRefusedWithTheirReasons()
    {
        StateDict tensors = PyTorchCheckpoint.ReadFile(Fixtures.Path("resnet.pt")).Tensors;
        double[] variance = tensors["bn1.running_var"].ToDoubles();
        variance[3] = -0.25;
        tensors["bn1.running_var"] = StateTensor.FromSingles(variance.Select(v => (float)v).ToArray(), variance.Length);
        string input = Path.Combine(folder, "broken.safetensors");
        SafeTensors.WriteFile(input, tensors);

        var (code, _, error) = CliHarness.Run("fold", input, Output, "--pair", "conv1.weight=bn1");
        Assert.Equal(1, code);
        Assert.Contains("conv1.weight=bn1: the BatchNorm2d cannot be folded: running_var is negative (-0.25) in channel 3", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);

        (code, _, error) = CliHarness.Run("fold", Fixtures.Path("resnet.pt"), Output, "--pair", "layer2.0.conv1.weight=bn1");
        Assert.Equal(1, code);
        Assert.Contains("the BatchNorm2d normalizes 8 channels but the convolution has 16 output channels", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);

        (code, _, error) = CliHarness.Run("fold", Fixtures.Path("resnet.pt"), Output, "--pair", "conv9.weight=bn1");
        Assert.Equal(1, code);
        Assert.Contains("conv9.weight=bn1: no tensor named conv9.weight.", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.False(File.Exists(Output));
    }

    [Theory]
    [InlineData(new[] { "fold", "IN", "OUT" }, "nothing to fold: give --pair")]
    [InlineData(new[] { "fold", "IN", "OUT", "--pair", "conv1=bn1" }, "WEIGHT must be a weight's full name ending in .weight")]
    [InlineData(new[] { "fold", "IN", "OUT", "--pair", "conv1.weight" }, "is not WEIGHT=NORM[,transposed][,groups=G][,eps=E]")]
    [InlineData(new[] { "fold", "IN", "OUT", "--pair", "up.weight=bn1,groups=0" }, "'groups=0' is not one of transposed, groups=G")]
    [InlineData(new[] { "fold", "IN", "IN", "--auto" }, "OUTPUT is INPUT")]
    public void Fold_UsageErrors_ExitWith2(string[] args, string message)
    {
        string[] resolved = args.Select(a => a == "IN" ? Fixtures.Path("resnet.pt") : a == "OUT" ? Output : a).ToArray();
        var (code, output, error) = CliHarness.Run(resolved);
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Contains(message, CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }
}
