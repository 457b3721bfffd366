using NormSharp.Cli.Inspection;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints the normalization layers found in a checkpoint as a table, anomalies flagged.</summary>
public static class InspectRenderer
{
    /// <summary>Writes the layer table and a one-line summary; the path and the names, which come from outside, are printed
    /// with control characters escaped (<see cref="TerminalText"/>).</summary>
    public static void Write(IAnsiConsole console, string path, IReadOnlyList<NormLayerReport> layers, int tensorCount, int skippedCount)
    {
        console.WriteLine($"{TerminalText.OneLine(path)}: {layers.Count} normalization layer(s) among {tensorCount} tensor(s)" +
                          (skippedCount > 0 ? $" ({skippedCount} more of dtypes NormSharp does not load)" : ""));
        if (layers.Count == 0) return;
        var table = new Table().Border(TableBorder.Markdown);
        foreach (string header in new[] { "layer", "C", "dtype", "counter", "running_mean min / mean / max", "running_var min / mean / max", "weight min / max", "anomalies" })
            table.AddColumn(new TableColumn(Markup.Escape(header)));
        foreach (NormLayerReport layer in layers)
        {
            table.AddRow(
                Markup.Escape(layer.Name.Length == 0 ? "(root)" : TerminalText.Escape(layer.Name)),
                NumberText.Of(layer.Channels),
                layer.DType,
                layer.Counter is long counter ? NumberText.Of(counter) : "-",
                Summary(layer.RunningMean, withMean: true),
                Summary(layer.RunningVar, withMean: true),
                Summary(layer.Weight, withMean: false),
                Markup.Escape(layer.Anomalies.Count == 0 ? "none" : "! " + TerminalText.Escape(string.Join("; ", layer.Anomalies))));
        }

        console.Write(table);
        int flagged = layers.Count(l => l.Anomalies.Count > 0);
        console.WriteLine(flagged == 0 ? "no anomalies." : $"{flagged} layer(s) with anomalies.");
    }

    private static string Summary(ValueSummary? summary, bool withMean) => summary is null
        ? "-"
        : withMean
            ? $"{NumberText.Short(summary.Min)} / {NumberText.Short(summary.Mean)} / {NumberText.Short(summary.Max)}"
            : $"{NumberText.Short(summary.Min)} / {NumberText.Short(summary.Max)}";
}
