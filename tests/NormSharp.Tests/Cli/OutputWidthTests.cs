using System.Globalization;
using NormSharp.Serialization;

namespace NormSharp.Tests.Cli;

/// <summary>The width the CLI lays its text out for: 80 columns when piped, <c>--width N</c> otherwise, never wider.</summary>
public class OutputWidthTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-width-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private string Checkpoint()
    {
        var state = new StateDict
        {
            ["encoder.layers.0.norm.weight"] = StateTensor.FromSingles([1f, 0.5f, 1e-5f], 3),
            ["encoder.layers.0.norm.running_mean"] = StateTensor.FromSingles([0.25f, -0.75f, 1.5f], 3),
            ["encoder.layers.0.norm.running_var"] = StateTensor.FromSingles([-1f, float.NaN, 0.5f], 3),
            ["encoder.layers.0.norm.num_batches_tracked"] = StateTensor.Scalar(0),
        };
        string path = Path.Combine(folder, "model.safetensors");
        SafeTensors.WriteFile(path, state);
        return path;
    }

    private static void AssertFits(string output, int width) =>
        Assert.All(output.Split('\n'), line => Assert.True(line.TrimEnd('\r').Length <= width, $"{line.Length} > {width}: {line}"));

    [Theory]
    [InlineData("explain")]
    [InlineData("explain", "--module", "instancenorm3d")]
    [InlineData("explain", "--steps", "forward,eval,forward", "--features", "12")]
    public void Explain_WhenPiped_FitsIn80Columns(params string[] args)
    {
        var (code, output, _) = CliHarness.Run(args);
        Assert.Equal(0, code);
        AssertFits(output, 80);
        Assert.Contains(output.Split('\n'), line => line.Length > 60);
    }

    [Fact]
    public void Inspect_WhenPiped_FitsIn80Columns()
    {
        var (code, output, error) = CliHarness.Run("inspect", Checkpoint());
        Assert.True(code == 0, error);
        AssertFits(output, 80);
    }

    [Theory]
    [InlineData(40)]
    [InlineData(57)]
    [InlineData(100)]
    [InlineData(1000)]
    public void WidthOption_LaysEveryCommandOutForThatWidth(int width)
    {
        string n = width.ToString(CultureInfo.InvariantCulture);
        string[][] commands =
        [
            ["explain", "--width", n], ["explain", "--module", "instancenorm2d", "--width", n],
            ["explain", "--steps", "set eps=0.5; forward; eval; forward", "--width", n], ["inspect", Checkpoint(), "--width", n],
        ];
        foreach (string[] args in commands)
        {
            var (code, output, error) = CliHarness.Run(args);
            Assert.True(code == 0, error);
            AssertFits(output, width);
        }
    }

    [Fact]
    public void WidthOption_WhenNoTableFits_StacksOneBlockPerRow()
    {
        var (code, output, _) = CliHarness.Run("explain", "--width", "40");
        Assert.Equal(0, code);
        string[] lines = output.Split('\n');
        Assert.Equal(8, lines.Count(l => l.StartsWith("mode: ", StringComparison.Ordinal)));
        Assert.Contains("tracking at construction: true", lines);
        Assert.Contains("running stats updated: yes (var_u; EMA", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("| mode", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("39")]
    [InlineData("1001")]
    [InlineData("0")]
    [InlineData("-80")]
    [InlineData("80.5")]
    [InlineData("wide")]
    public void WidthOption_OutOfRangeOrNotAWholeNumber_IsAOneLineUsageError(string width)
    {
        string[][] commands = [["explain", "--width", width], ["inspect", Checkpoint(), "--width", width]];
        foreach (string[] args in commands)
        {
            var (code, output, error) = CliHarness.Run(args);
            Assert.Equal(2, code);
            Assert.Empty(output);
            Assert.StartsWith($"error: --width must be a whole number from 40 to 1000, not '{width}'", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void WidthOption_BeforeTheCommand_AppliesToIt()
    {
        var (code, output, _) = CliHarness.Run("--width", "40", "explain");
        Assert.Equal(0, code);
        AssertFits(output, 40);
    }

    [Theory]
    [InlineData("explain", "--json")]
    [InlineData("explain", "--json", "--steps", "forward,eval,forward")]
    [InlineData("inspect", "CHECKPOINT", "--json")]
    public void WidthOption_LeavesTheJsonAsItIs(params string[] args)
    {
        args = args.Select(a => a == "CHECKPOINT" ? Checkpoint() : a).ToArray();
        var (_, plain, _) = CliHarness.Run(args);
        var (code, narrow, _) = CliHarness.Run([.. args, "--width", "40"]);
        Assert.Equal(0, code);
        Assert.StartsWith("[", plain, StringComparison.Ordinal);
        Assert.Equal(plain, narrow);
    }
}
