using NormSharp.Cli.Inspection;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints the normalization layers found in a checkpoint as a table fitted to the console's width
/// (<see cref="TextTable"/>), then the anomalies, one line per anomaly under the table.</summary>
public static class InspectRenderer
{
    /// <summary>Writes the layer table and a one-line summary; the path and the names, which come from outside, are printed
    /// with control characters escaped (<see cref="TerminalText"/>).</summary>
    public static void Write(IAnsiConsole console, string path, IReadOnlyList<NormLayerReport> layers, int tensorCount, int skippedCount)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(layers);
        int width = console.Profile.Width;
        console.WriteLines(TextWrap.Wrap(
            $"{TerminalText.OneLine(path)}: {layers.Count} normalization layer(s) among {tensorCount} tensor(s)" +
            (skippedCount > 0 ? $" ({skippedCount} more of dtypes NormSharp does not load)" : ""), width));
        if (layers.Count == 0) return;
        console.WriteLine();

        var table = new TextTable(
            new TextColumn("layer"),
            new TextColumn("C"),
            new TextColumn("dtype"),
            new TextColumn("counter"),
            new TextColumn("running_mean\nmin / mean / max", "mean"),
            new TextColumn("running_var\nmin / mean / max", "var"),
            new TextColumn("weight\nmin / max"),
            new TextColumn("anomalies", "!"));
        foreach (NormLayerReport layer in layers)
        {
            table.AddRow(
                Name(layer),
                NumberText.Of(layer.Channels),
                layer.DType,
                layer.Counter is long counter ? NumberText.Of(counter) : "-",
                Summary(layer.RunningMean, withMean: true),
                Summary(layer.RunningVar, withMean: true),
                Summary(layer.Weight, withMean: false),
                layer.Anomalies.Count == 0 ? "none" : NumberText.Of(layer.Anomalies.Count));
        }

        console.WriteLines(table.Render(width));
        console.WriteLine();
        int flagged = layers.Count(l => l.Anomalies.Count > 0);
        if (flagged == 0)
        {
            console.WriteLine("no anomalies.");
            return;
        }

        console.WriteLine($"{flagged} layer(s) with anomalies:");
        foreach (NormLayerReport layer in layers)
            foreach (string anomaly in layer.Anomalies)
                console.WriteLines(TextWrap.Hanging($"{Name(layer)}: {TerminalText.Escape(anomaly)}", width, "! ", "    "));
    }

    private static string Name(NormLayerReport layer) => layer.Name.Length == 0 ? "(root)" : TerminalText.Escape(layer.Name);

    // The slashes are glued to the number before them, so a wrapped summary never starts a line with "/".
    private static string Summary(ValueSummary? summary, bool withMean) => summary is null
        ? "-"
        : withMean
            ? $"{NumberText.Short(summary.Min)}{TextWrap.Glue}/ {NumberText.Short(summary.Mean)}{TextWrap.Glue}/ {NumberText.Short(summary.Max)}"
            : $"{NumberText.Short(summary.Min)}{TextWrap.Glue}/ {NumberText.Short(summary.Max)}";
}
