using NormSharp.Serialization;

using NormSharp.Tests.Support;

namespace NormSharp.Tests.Cli;

/// <summary>
/// The exact text of <c>explain</c>, <c>explain --module instancenorm2d</c>, <c>explain --steps</c>, and <c>inspect</c> and
/// <c>fold</c> on a small checkpoint, at 80 and 120 columns, against the files in <c>Cli/Golden/</c>; and, at both widths, that no line is
/// wider than the width, that no word is split across lines, and that every table holds the same cells as at 1000 columns.
/// </summary>
/// <remarks>
/// After a deliberate change to the output, regenerate the files (and the checkpoint fixture) and review the diff:
/// <code>NORMSHARP_REGENERATE_GOLDEN=1 dotnet test tests/NormSharp.Tests --filter FullyQualifiedName~CliGoldenTests</code>
/// <code>git diff tests/NormSharp.Tests/Cli/Golden</code>
/// With the variable set, the tests write the files instead of comparing (the other assertions still run).
/// </remarks>
public class CliGoldenTests
{
    /// <summary>The environment variable that makes the tests rewrite the golden files.</summary>
    public const string RegenerateVariable = "NORMSHARP_REGENERATE_GOLDEN";

    /// <summary>The checkpoint's name as the golden files print it: it is copied to the working directory under this name,
    /// so that the path the CLI prints is the same on every machine.</summary>
    private const string CheckpointName = "golden-checkpoint.safetensors";

    private const string Steps = "set eps=0.5; forward; set momentum=None; forward batch=2; eval; set track=false; forward batch=1; reset";

    private static readonly Dictionary<string, string[]> Commands = new()
    {
        ["explain"] = ["explain"],
        ["explain-instancenorm2d"] = ["explain", "--module", "instancenorm2d"],
        ["explain-steps"] = ["explain", "--module", "BatchNorm2d", "--steps", Steps],
        ["inspect"] = ["inspect", CheckpointName],
        ["fold"] = ["fold", CheckpointName, "golden-folded.safetensors", "--pair", "conv1.weight=bn1,eps=0.001", "--auto"],
    };

    public static TheoryData<string, int> Cases()
    {
        var cases = new TheoryData<string, int>();
        foreach (string name in Commands.Keys)
            foreach (int width in new[] { 80, 120 })
                cases.Add(name, width);
        return cases;
    }

    private static bool Regenerating => Environment.GetEnvironmentVariable(RegenerateVariable) is "1" or "true";

    private static string Folder() => RepositoryPaths.Of("tests", "NormSharp.Tests", "Cli", "Golden");

    private static string Run(string name, int width)
    {
        if (name is "inspect" or "fold") PlaceCheckpoint();
        var (code, output, error) = CliHarness.Run([.. Commands[name], "--width", width.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, error);
        Assert.Empty(error);
        return output.ReplaceLineEndings("\n");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_IsExactlyItsGoldenFile(string name, int width)
    {
        string output = Run(name, width);
        string file = Path.Combine(Folder(), $"{name}-{width}.txt");
        if (Regenerating)
        {
            File.WriteAllText(file, output);
            return;
        }

        Assert.True(File.Exists(file), $"{file} is missing; run the tests with {RegenerateVariable}=1 to write it.");
        Assert.Equal(File.ReadAllText(file).ReplaceLineEndings("\n"), output);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_NoLineIsWiderThanTheWidth(string name, int width)
    {
        string[] lines = Run(name, width).Split('\n');
        Assert.All(lines, line => Assert.True(line.Length <= width, $"{line.Length} columns: {line}"));
        Assert.DoesNotContain(lines, line => line.EndsWith(' '));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_NoWordIsSplitAcrossLines(string name, int width)
    {
        // Every word printed at this width is a word of the unwrapped output, or a short heading its legend spells out:
        // a split word leaves pieces that are neither.
        string output = Run(name, width);
        HashSet<string> words = [.. RenderedText.Words(Run(name, 1000)), .. RenderedText.LegendWords(output)];
        Assert.All(RenderedText.Words(output), word => Assert.Contains(word, words));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_TablesHoldEveryCell_AsAtFullWidth(string name, int width)
    {
        List<List<string[]>> wide = RenderedText.Tables(Run(name, 1000));
        List<List<string[]>> narrow = RenderedText.Tables(Run(name, width));
        if (name != "explain-steps") Assert.NotEmpty(wide);
        Assert.Equal(wide.Count, narrow.Count);
        for (int t = 0; t < wide.Count; t++) Assert.Equal(wide[t], narrow[t]);
    }

    [Fact]
    public void Readme_80ColumnExample_IsWhatExplainPrints()
    {
        string readme = File.ReadAllText(RepositoryPaths.Of("README.md")).ReplaceLineEndings("\n");
        const string Start = "columns:\n\n```text\n";
        int at = readme.IndexOf(Start, StringComparison.Ordinal);
        Assert.True(at >= 0, "the README's 80-column example is missing");
        string example = readme[(at + Start.Length)..];
        example = example[..example.IndexOf("```", StringComparison.Ordinal)];
        Assert.Contains("| mode  | built ", example, StringComparison.Ordinal);
        Assert.StartsWith(example, Run("explain", 80), StringComparison.Ordinal);
    }

    /// <summary>Copies the fixture to the working directory (unless already there), as <see cref="CheckpointName"/>.</summary>
    private static void PlaceCheckpoint()
    {
        string fixture = Path.Combine(Folder(), "checkpoint.safetensors");
        if (Regenerating) SafeTensors.WriteFile(fixture, GoldenCheckpoint());
        byte[] bytes = File.ReadAllBytes(fixture);
        string copy = Path.Combine(Environment.CurrentDirectory, CheckpointName);
        lock (Commands)
        {
            if (!File.Exists(copy) || !File.ReadAllBytes(copy).AsSpan().SequenceEqual(bytes)) File.WriteAllBytes(copy, bytes);
        }
    }

    /// <summary>The fixture: two trained BatchNorm layers, an untrained one (in double), an InstanceNorm with three
    /// anomalies, and a linear layer that inspect must leave out.</summary>
    private static StateDict GoldenCheckpoint() => new()
    {
        ["conv1.weight"] = StateTensor.FromSingles(new float[4 * 3], 4, 3),
        ["bn1.weight"] = StateTensor.FromSingles([1.02f, 0.97f, 1.1f, 0.89f], 4),
        ["bn1.bias"] = StateTensor.FromSingles([0.01f, -0.02f, 0.03f, 0f], 4),
        ["bn1.running_mean"] = StateTensor.FromSingles([0.12f, -0.53f, 0.08f, 1.7f], 4),
        ["bn1.running_var"] = StateTensor.FromSingles([0.91f, 1.34f, 0.45f, 2.2f], 4),
        ["bn1.num_batches_tracked"] = StateTensor.Scalar(1200),
        ["layer1.0.bn1.weight"] = StateTensor.FromSingles([0.8f, 1.3f, 1.05f, 0.99f], 4),
        ["layer1.0.bn1.bias"] = StateTensor.FromSingles([0f, 0.1f, -0.1f, 0.2f], 4),
        ["layer1.0.bn1.running_mean"] = StateTensor.FromSingles([-2.5f, 0.33f, 4.75f, -0.01f], 4),
        ["layer1.0.bn1.running_var"] = StateTensor.FromSingles([12.5f, 0.0625f, 3f, 150.25f], 4),
        ["layer1.0.bn1.num_batches_tracked"] = StateTensor.Scalar(1200),
        ["layer1.0.bn2.weight"] = StateTensor.FromDoubles([1.0, 1.0, 1.0], 3),
        ["layer1.0.bn2.bias"] = StateTensor.FromDoubles([0.0, 0.0, 0.0], 3),
        ["layer1.0.bn2.running_mean"] = StateTensor.FromDoubles([0.0, 0.0, 0.0], 3),
        ["layer1.0.bn2.running_var"] = StateTensor.FromDoubles([1.0, 1.0, 1.0], 3),
        ["layer1.0.bn2.num_batches_tracked"] = StateTensor.Scalar(0),
        ["head.norm.weight"] = StateTensor.FromSingles([1f, 0.5f, 1e-5f], 3),
        ["head.norm.bias"] = StateTensor.FromSingles([0f, 0f, 0f], 3),
        ["head.norm.running_mean"] = StateTensor.FromSingles([0.25f, -0.75f, 1.5f], 3),
        ["head.norm.running_var"] = StateTensor.FromSingles([-1f, float.NaN, 0.5f], 3),
        ["head.norm.num_batches_tracked"] = StateTensor.Scalar(7),
        ["fc.weight"] = StateTensor.FromSingles(new float[6], 2, 3),
    };
}
