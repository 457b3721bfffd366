using NormSharp.Cli.Observation;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints the observed summary table in the layout of docs/behavior.md section 3.</summary>
public static class SummaryRenderer
{
    /// <summary>Writes the eight rows and the affine/momentum rows as tables.</summary>
    public static void Write(IAnsiConsole console, string moduleName, IReadOnlyList<SummaryRow> rows,
                             IReadOnlyList<AttributeObservation> attributes, string singleValueHeader = "n == 1 error")
    {
        console.WriteLine($"{moduleName}: what each combination does, observed just now on real layers and a real batch");
        var table = new Table().Border(TableBorder.Markdown);
        foreach (string header in new[] { "mode", "tracking at construction", "tracking now", "normalized with",
                                          "running stats updated", "counter +1", singleValueHeader })
            table.AddColumn(new TableColumn(Markup.Escape(header)));
        foreach (SummaryRow row in rows)
        {
            table.AddRow(
                row.Mode,
                Bool(row.TrackAtConstruction),
                Bool(row.TrackNow),
                row.NormalizedWith switch { "batch" => "batch (var_b)", "instance" => "instance (var_b)", "error" => "error (see below)", var other => other },
                Markup.Escape(row.RunningStatsUpdated switch { null => "no buffers", true => $"yes ({row.UpdateMatches})", false => "no" }),
                row.CounterIncremented switch { null => "no counter", true => "yes", false => "no" },
                row.SingleValueError ? "yes" : "no");
        }

        console.Write(table);
        foreach (SummaryRow row in rows.Where(r => r.Error is not null))
            console.WriteLine($"error, {row.Mode} with tracking {Bool(row.TrackAtConstruction)} at construction and {Bool(row.TrackNow)} now: {row.Error}");
        console.WriteLine();

        var attributeTable = new Table().Border(TableBorder.Markdown);
        attributeTable.AddColumn("attribute");
        attributeTable.AddColumn("setting");
        attributeTable.AddColumn("observed");
        foreach (AttributeObservation row in attributes)
            attributeTable.AddRow(Markup.Escape(row.Attribute), Markup.Escape(row.Setting), Markup.Escape(row.Observed));
        console.Write(attributeTable);
    }

    private static string Bool(bool value) => value ? "true" : "false";
}
