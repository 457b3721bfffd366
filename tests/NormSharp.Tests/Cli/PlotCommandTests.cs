using System.Globalization;
using System.Xml.Linq;
using NormSharp.Cli.Plotting;
using NormSharp.Serialization;
using NormSharp.Tests.Support;
using SkiaSharp;

namespace NormSharp.Tests.Cli;

/// <summary>The CLI's plot command: valid PNG and SVG files of the asked size, CSV data equal to what the library computes,
/// and bad input refused with one line, the right exit code and no file left behind.</summary>
public class PlotCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-plot-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private string PathOf(string name) => Path.Combine(folder, name);

    private static string ResnetFixture => RepositoryPaths.Of("tests", "NormSharp.PyTorch.Tests", "Fixtures", "resnet.pt");

    private static string GoldenCheckpoint => RepositoryPaths.Of("tests", "NormSharp.Tests", "Cli", "Golden", "checkpoint.safetensors");

    [Fact]
    public void PlotRunningStats_Png_IsTheDefault800x500AndNotBlank()
    {
        string png = PathOf("running.png");
        var (code, output, error) = CliHarness.Run("plot", "running-stats", "--steps", "60", "-o", png);
        Assert.True(code == 0, error);
        Assert.Contains("running.png", output, StringComparison.Ordinal);
        AssertPng(png, 800, 500);
    }

    [Fact]
    public void PlotRunningStats_CsvRunningStatistics_EqualLayersDrivenStepByStep()
    {
        string csv = PathOf("running.csv");
        var (code, _, error) = CliHarness.Run("plot", "running-stats", "--momentum", "0.1", "None", "0.01", "--steps", "40", "--batch", "8", "--seed", "5",
                                              "-o", PathOf("running.svg"), "--csv", csv);
        Assert.True(code == 0, error);
        var (header, rows) = ReadCsv(csv);
        Assert.Equal(41, rows.Count);

        double?[] momenta = [0.1, null, 0.01];
        string[] names = ["0.1", "None", "0.01"];
        var layers = momenta.Select(m => new BatchNorm1d(1, momentum: m)).ToArray();
        int step = 0;
        AssertRow(rows[0]);
        foreach (float[] batch in new ShiftingPopulation(40, 8, 5).Batches())
        {
            foreach (BatchNorm1d layer in layers) layer.Forward(Tensor.Create(batch, [8, 1]));
            AssertRow(rows[++step]);
        }

        void AssertRow(string[] row)
        {
            Assert.Equal(step.ToString(CultureInfo.InvariantCulture), row[0]);
            for (int i = 0; i < layers.Length; i++)
            {
                Assert.Equal(layers[i].RunningMean![0], float.Parse(row[Array.IndexOf(header, $"running_mean[momentum={names[i]}]")], CultureInfo.InvariantCulture));
                Assert.Equal(layers[i].RunningVar![0], float.Parse(row[Array.IndexOf(header, $"running_var[momentum={names[i]}]")], CultureInfo.InvariantCulture));
            }
        }
    }

    [Fact]
    public void PlotRunningStats_PopulationColumns_ShiftHalfway()
    {
        string csv = PathOf("shift.csv");
        Assert.Equal(0, CliHarness.Run("plot", "running-stats", "--steps", "10", "-o", PathOf("shift.png"), "--csv", csv).Code);
        var (header, rows) = ReadCsv(csv);
        int mean = Array.IndexOf(header, "population_mean");
        Assert.Equal(["0", "0", "0", "0", "0", "0", "3", "3", "3", "3", "3"], rows.Select(r => r[mean]));
    }

    [Fact]
    public void PlotTrainVsEval_Svg_ParsesWithAnSvgRootOfTheRequestedSize()
    {
        string svg = PathOf("modes.svg");
        var (code, _, error) = CliHarness.Run("plot", "train-vs-eval", "--epochs", "2", "--image-width", "640", "--image-height", "400", "-o", svg);
        Assert.True(code == 0, error);
        XElement root = XDocument.Load(svg).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.Equal("640", root.Attribute("width")?.Value);
        Assert.Equal("400", root.Attribute("height")?.Value);
        Assert.Contains(root.Descendants(), e => e.Name.LocalName == "text");
    }

    [Fact]
    public void PlotTrainVsEval_Csv_EqualsTheSpiralsSamplesTraining()
    {
        string csv = PathOf("modes.csv");
        var (code, _, error) = CliHarness.Run("plot", "train-vs-eval", "--epochs", "3", "-o", PathOf("modes.png"), "--csv", csv);
        Assert.True(code == 0, error);
        var (header, rows) = ReadCsv(csv);
        TrainWithBatchNorm.SpiralTraining.Report sample = TrainWithBatchNorm.SpiralTraining.Run(new TrainWithBatchNorm.SpiralTraining.Options(Epochs: 3), TextWriter.Null);

        string[][] epochs = rows.Where(r => r[0] == "epoch").ToArray();
        Assert.Equal(3, epochs.Length);
        for (int e = 0; e < 3; e++)
        {
            Assert.Equal(sample.Epochs[e].Loss, Cell(epochs[e], header, "loss"));
            Assert.Equal(sample.Epochs[e].TrainAccuracy, Cell(epochs[e], header, "training_batch_accuracy"));
            Assert.Equal(sample.Epochs[e].EvalAccuracy, Cell(epochs[e], header, "eval_mode_accuracy"));
            Assert.InRange(Cell(epochs[e], header, "train_mode_accuracy"), 0, 1);
        }

        string[][] table = rows.Where(r => r[0] == "eval_batch_size").ToArray();
        Assert.Equal(sample.Comparisons.Select(c => c.BatchSize.ToString(CultureInfo.InvariantCulture)), table.Select(r => r[Array.IndexOf(header, "eval_batch_size")]));
        for (int i = 0; i < table.Length; i++)
        {
            Assert.Equal(sample.Comparisons[i].RunningStatistics, Cell(table[i], header, "eval_running_stats"));
            Assert.Equal(sample.Comparisons[i].RunningWithTrackingOff, Cell(table[i], header, "eval_tracking_off"));
            string batchStats = table[i][Array.IndexOf(header, "train_batch_stats")];
            Assert.Equal(sample.Comparisons[i].BatchStatistics, batchStats.Length == 0 ? null : double.Parse(batchStats, CultureInfo.InvariantCulture));
        }

        Assert.Contains("Expected more than 1 value per channel when training", table[0][Array.IndexOf(header, "batch_stats_error")], StringComparison.Ordinal);
    }

    [Fact]
    public void PlotCheckpoint_TorchSave_WritesAPngOfEachLayer()
    {
        string png = PathOf("resnet.png"), csv = PathOf("resnet.csv");
        var (code, _, error) = CliHarness.Run("plot", "checkpoint", ResnetFixture, "-o", png, "--csv", csv);
        Assert.True(code == 0, error);
        AssertPng(png, 800, 500);
        var (header, rows) = ReadCsv(csv);
        Assert.Equal(8, rows.Select(r => r[0]).Distinct().Count());
        Assert.DoesNotContain(rows, r => r[Array.IndexOf(header, "flagged")] == "true");
    }

    [Fact]
    public void PlotCheckpoint_CsvValues_AreTheCheckpointsTensors_WithInspectsAnomaliesFlagged()
    {
        string csv = PathOf("golden.csv");
        var (code, _, error) = CliHarness.Run("plot", "checkpoint", GoldenCheckpoint, "-o", PathOf("golden.svg"), "--csv", csv);
        Assert.True(code == 0, error);
        var (header, rows) = ReadCsv(csv);
        StateDict tensors = SafeTensors.ReadFile(GoldenCheckpoint).Tensors;
        foreach (string[] row in rows)
        {
            double expected = tensors[$"{row[0]}.{row[1]}"].ToDoubles()[int.Parse(row[2], CultureInfo.InvariantCulture)];
            Assert.Equal(expected, Cell(row, header, "value"));
        }

        string[] head = rows.First(r => r[0] == "head.norm" && r[1] == "running_var" && Cell(r, header, "value") < 0);
        Assert.Equal("true", head[Array.IndexOf(header, "flagged")]);
        Assert.Contains("running_var <= 0 in 1 channel(s)", head[Array.IndexOf(header, "layer_anomalies")], StringComparison.Ordinal);
        Assert.Contains(rows, r => r[0] == "layer1.0.bn2" && r[Array.IndexOf(header, "layer_anomalies")].Contains("num_batches_tracked is 0", StringComparison.Ordinal));
        Assert.All(rows.Where(r => r[0] == "bn1"), r => Assert.Equal("false", r[Array.IndexOf(header, "flagged")]));
    }

    [Fact]
    public void Plot_OutputInAMissingFolder_IsOneLineExitCode1AndNoFile()
    {
        string png = Path.Combine(folder, "missing", "plot.png");
        var (code, output, error) = CliHarness.Run("plot", "running-stats", "--steps", "10", "-o", png);
        Assert.Equal(1, code);
        Assert.Contains("cannot write", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.Empty(output);
        Assert.False(Directory.Exists(Path.GetDirectoryName(png)));
    }

    [Fact]
    public void Plot_OutputThatIsAFolder_IsOneLineExitCode1AndLeavesNoTemporaryFile()
    {
        string target = Directory.CreateDirectory(PathOf("taken.png")).FullName;
        var (code, _, error) = CliHarness.Run("plot", "running-stats", "--steps", "10", "-o", target);
        Assert.Equal(1, code);
        CliHarness.AssertOneLineError(error);
        Assert.Equal([target], Directory.GetFileSystemEntries(folder));
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void Plot_CsvThatCannotBeWritten_LeavesNeitherFile()
    {
        string png = PathOf("plot.png"), csv = Path.Combine(folder, "missing", "data.csv");
        var (code, _, error) = CliHarness.Run("plot", "running-stats", "--steps", "10", "-o", png, "--csv", csv);
        Assert.Equal(1, code);
        Assert.Contains("data.csv", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Theory]
    [InlineData("--format", "jpg")]
    [InlineData("--format", "")]
    public void Plot_UnknownFormat_IsAUsageErrorAndNoFile(string option, string value)
    {
        var (code, _, error) = CliHarness.Run("plot", "running-stats", "-o", PathOf("plot.png"), option, value);
        Assert.Equal(2, code);
        Assert.Contains("--format must be png or svg", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void Plot_UnknownExtensionWithoutFormat_IsAUsageErrorAndNoFile()
    {
        var (code, _, error) = CliHarness.Run("plot", "running-stats", "-o", PathOf("plot.jpg"));
        Assert.Equal(2, code);
        Assert.Contains("cannot tell the format", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void Plot_FormatOption_OverridesTheExtension()
    {
        string path = PathOf("plot.img");
        Assert.Equal(0, CliHarness.Run("plot", "running-stats", "--steps", "10", "-o", path, "--format", "svg").Code);
        Assert.Equal("svg", XDocument.Load(path).Root!.Name.LocalName);
    }

    [Theory]
    [InlineData("--image-width", "10")]
    [InlineData("--image-height", "big")]
    [InlineData("--momentum", "1.5")]
    [InlineData("--steps", "1")]
    public void PlotRunningStats_OutOfRangeValue_IsAUsageError(string option, string value)
    {
        var (code, _, error) = CliHarness.Run("plot", "running-stats", "-o", PathOf("plot.png"), option, value);
        Assert.Equal(2, code);
        Assert.Contains(option, CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void PlotCheckpoint_WithoutNormalizationLayers_IsOneLineExitCode1AndNoFile()
    {
        string checkpoint = PathOf("linear.safetensors");
        SafeTensors.WriteFile(checkpoint, new StateDict { ["fc.weight"] = StateTensor.FromSingles(new float[6], 2, 3), ["fc.bias"] = StateTensor.FromSingles(new float[2], 2) });
        var (code, _, error) = CliHarness.Run("plot", "checkpoint", checkpoint, "-o", PathOf("plot.png"), "--csv", PathOf("plot.csv"));
        Assert.Equal(1, code);
        Assert.Contains("no normalization layers", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.Equal([checkpoint], Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void PlotCheckpoint_UnreadableFile_IsOneLineExitCode1AndNoFile()
    {
        string text = PathOf("notes.txt");
        File.WriteAllText(text, "not a checkpoint");
        var (code, _, error) = CliHarness.Run("plot", "checkpoint", text, "-o", PathOf("plot.png"));
        Assert.Equal(1, code);
        CliHarness.AssertOneLineError(error);
        Assert.Equal([text], Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void PlotCheckpoint_RunningVarSpanningMoreThanAThousandFold_IsDrawnOnALogarithmicAxis_InAPanelOfItsOwn()
    {
        IReadOnlyList<CheckpointLayerValues> spread = CheckpointLayerValues.From(SafeTensors.ReadFile(GoldenCheckpoint).Tensors);
        IReadOnlyList<ChartPanel> panels = CheckpointChart.Create("checkpoint.safetensors", spread);
        Assert.Equal(["running_mean", "running_var (log)", "weight"], panels.Select(p => p.Plot.Axes.Left.Label.Text));

        IReadOnlyList<CheckpointLayerValues> narrow = CheckpointLayerValues.From(NormSharp.PyTorch.PyTorchCheckpoint.ReadFile(ResnetFixture).Tensors);
        Assert.Equal("running_var", CheckpointChart.Create("resnet.pt", narrow)[1].Plot.Axes.Left.Label.Text);
    }

    private static void AssertPng(string path, int width, int height)
    {
        using SKBitmap? bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.Equal(width, bitmap.Width);
        Assert.Equal(height, bitmap.Height);
        // Not blank: the luminance of the pixels varies (a single-colour image has variance 0; a drawn plot far more).
        var luminance = new List<double>();
        for (int y = 0; y < height; y += 3)
            for (int x = 0; x < width; x += 3)
            {
                SKColor c = bitmap.GetPixel(x, y);
                luminance.Add(0.299 * c.Red + 0.587 * c.Green + 0.114 * c.Blue);
            }

        double mean = luminance.Average();
        double variance = luminance.Sum(v => (v - mean) * (v - mean)) / luminance.Count;
        Assert.True(variance > 100, $"the image looks blank: luminance variance {variance}");
        Assert.True(luminance.Count(v => v < 128) > 500, "hardly any dark pixel: no text or lines drawn");
    }

    private static double Cell(string[] row, string[] header, string column) =>
        double.Parse(row[Array.IndexOf(header, column)], CultureInfo.InvariantCulture);

    /// <summary>A CSV file as header and rows; quoted cells (with commas or quotes inside) are unquoted.</summary>
    private static (string[] Header, List<string[]> Rows) ReadCsv(string path)
    {
        var lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Split).ToList();
        return (lines[0], lines.Skip(1).ToList());
    }

    private static string[] Split(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }

        cells.Add(cell.ToString());
        return [.. cells];
    }
}
