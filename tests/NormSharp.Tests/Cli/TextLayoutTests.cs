using NormSharp.Cli.Rendering;
using Spectre.Console;

namespace NormSharp.Tests.Cli;

/// <summary>Word wrapping, the table layouts and the console settings the CLI's text is drawn with.</summary>
public class TextLayoutTests
{
    [Fact]
    public void Wrap_BreaksAtSpacesOnly_NeverInsideAWord()
    {
        IReadOnlyList<string> lines = TextWrap.Wrap("running statistics are updated with the exponential moving average", 20);
        Assert.Equal(["running statistics", "are updated with the", "exponential moving", "average"], lines);
    }

    [Fact]
    public void Wrap_CutsAWord_OnlyWhenTheWordAloneIsWiderThanTheLine()
    {
        Assert.Equal(["a", "layer1.0.bn1.runni", "ng_mean b"], TextWrap.Wrap("a layer1.0.bn1.running_mean b", 18));
        Assert.Equal(["a", "layer1.0.bn1.running_mean", "b"], TextWrap.Wrap("a layer1.0.bn1.running_mean b", 25));
    }

    [Fact]
    public void Wrap_GluedWords_MoveToTheNextLineTogether_AndPrintAsASpace()
    {
        string summary = $"-6.567{TextWrap.Glue}/ 0.7015{TextWrap.Glue}/ 7.496";
        Assert.Equal(["-6.567 /", "0.7015 /", "7.496"], TextWrap.Wrap(summary, 10));
        Assert.Equal(8, TextWrap.LongestWord(summary));
    }

    [Fact]
    public void Wrap_Hanging_IndentsTheLinesAfterTheFirst_WithinTheWidth()
    {
        string[] lines = [.. TextWrap.Hanging("one two three four five six", 12, "- ", "  ")];
        Assert.Equal(["- one two", "  three four", "  five six"], lines);
    }

    private static TextTable Sample()
    {
        var table = new TextTable(new TextColumn("mode"), new TextColumn("tracking at\nconstruction", "built"), new TextColumn("running stats\nupdated", "updates"));
        table.AddRow("train", "true", "yes (var_u; EMA or CMA)");
        table.AddRow("eval", "false", "no buffers");
        return table;
    }

    [Fact]
    public void Table_WhenItFitsOnOneLinePerRow_IsAPlainMarkdownTable()
    {
        Assert.Equal(
        [
            "| mode  | tracking at construction | running stats updated   |",
            "| ----- | ------------------------ | ----------------------- |",
            "| train | true                     | yes (var_u; EMA or CMA) |",
            "| eval  | false                    | no buffers              |",
        ], Sample().Render(80));
    }

    [Fact]
    public void Table_WhenOneLineHeadingsAreTooWide_SplitsThemWhereMarked()
    {
        Assert.Equal(
        [
            "| mode  | tracking at  | running stats           |",
            "|       | construction | updated                 |",
            "| ----- | ------------ | ----------------------- |",
            "| train | true         | yes (var_u; EMA or CMA) |",
            "| eval  | false        | no buffers              |",
        ], Sample().Render(50));
    }

    [Fact]
    public void Table_WhenRowsMustWrap_WrapsCellsAtWords_AndARowStartsWhereItsFirstCellHasText()
    {
        var table = new TextTable(new TextColumn("attribute"), new TextColumn("observed"));
        table.AddRow("affine", "no effect (output identical to the unchanged layer)");
        table.AddRow("momentum", "EMA");
        // The observed column grows only while that saves lines: 26 cells would still take three.
        Assert.Equal(
        [
            "| attribute | observed          |",
            "| --------- | ----------------- |",
            "| affine    | no effect (output |",
            "|           | identical to the  |",
            "|           | unchanged layer)  |",
            "| momentum  | EMA               |",
        ], table.Render(40));
    }

    [Fact]
    public void Table_WhenAFirstCellWraps_SeparatesTheRowsWithRules()
    {
        var table = new TextTable(new TextColumn("setting"), new TextColumn("observed"));
        table.AddRow("true at construction (weight 2, bias 1)", "* weight + bias, per channel, as PyTorch does it");
        table.AddRow("false", "neither");
        IReadOnlyList<string> lines = table.Render(40);
        Assert.All(lines, line => Assert.True(line.Length <= 40, line));
        Assert.Equal(2, lines.Count(l => l.StartsWith("| ---", StringComparison.Ordinal)));
    }

    [Fact]
    public void Table_WhenOnlyTheShortHeadingsFit_UsesThemWithALegend()
    {
        // The full headings need 34 columns ("construction", "(var_u;" and the borders); the short ones fit in 33.
        IReadOnlyList<string> lines = Sample().Render(33);
        Assert.Equal(
        [
            "| mode  | built | updates     |",
            "| ----- | ----- | ----------- |",
            "| train | true  | yes (var_u; |",
            "|       |       | EMA or CMA) |",
            "| eval  | false | no buffers  |",
            "",
            "Columns: built = tracking at",
            "construction; updates = running",
            "stats updated.",
        ], lines);
    }

    [Fact]
    public void Table_WhenItsWordsCannotFit_StacksOneBlockPerRow_AsLabelValueLines()
    {
        var table = new TextTable(new TextColumn("layer"), new TextColumn("anomalies"));
        table.AddRow("encoder.layers.11.block.0.norm", "num_batches_tracked is 0: untrained running statistics");
        table.AddRow("head.norm", "none");
        Assert.Equal(
        [
            "layer:",
            "  encoder.layers.11.block.0.norm",
            "anomalies: num_batches_tracked is 0:",
            "           untrained running statistics",
            "",
            "layer:     head.norm",
            "anomalies: none",
        ], table.Render(40));
    }

    [Fact]
    public void Settings_OnATerminal_UseTheWindowWidth_AndColours()
    {
        Assert.Equal(new OutputSettings(132, true), OutputSettings.Resolve(isTerminal: true, windowWidth: 132, requestedWidth: null, noColor: null));
        Assert.Equal(new OutputSettings(80, true), OutputSettings.Resolve(isTerminal: true, windowWidth: 80, requestedWidth: null, noColor: ""));
    }

    [Fact]
    public void Settings_WhenRedirected_Use80Columns_AndNoColours()
    {
        Assert.Equal(new OutputSettings(80, false), OutputSettings.Resolve(isTerminal: false, windowWidth: 0, requestedWidth: null, noColor: null));
    }

    [Fact]
    public void Settings_WidthOption_OverridesTheTerminalAndTheRedirection()
    {
        Assert.Equal(120, OutputSettings.Resolve(isTerminal: true, windowWidth: 80, requestedWidth: 120, noColor: null).Width);
        Assert.Equal(40, OutputSettings.Resolve(isTerminal: false, windowWidth: 0, requestedWidth: 40, noColor: null).Width);
    }

    [Fact]
    public void Settings_NoColorSet_TurnsColoursOff_EvenOnATerminal()
    {
        Assert.False(OutputSettings.Resolve(isTerminal: true, windowWidth: 100, requestedWidth: null, noColor: "1").Colors);
    }

    [Fact]
    public void Console_WithoutColours_WritesNoAnsiSequence_AndHasTheWidth()
    {
        var writer = new StringWriter();
        IAnsiConsole console = ConsoleFactory.Create(writer, new OutputSettings(57, Colors: false));
        console.Markup("[bold red]alarm[/]");
        Assert.Equal(57, console.Profile.Width);
        Assert.Equal("alarm", writer.ToString());
    }
}
