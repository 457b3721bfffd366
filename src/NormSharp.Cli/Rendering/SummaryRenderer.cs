using NormSharp.Cli.Observation;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints the observed summary table in the layout of docs/behavior.md section 3, fitted to the console's
/// width (<see cref="TextTable"/>).</summary>
public static class SummaryRenderer
{
    /// <summary>Writes the eight rows and the affine/momentum rows as tables.</summary>
    public static void Write(IAnsiConsole console, string moduleName, IReadOnlyList<SummaryRow> rows,
                             IReadOnlyList<AttributeObservation> attributes, string singleValueHeader = "n == 1 error")
    {
        ArgumentNullException.ThrowIfNull(console);
        int width = console.Profile.Width;
        console.WriteLines(TextWrap.Wrap($"{moduleName}: what each combination does, observed just now on real layers and a real batch", width));
        console.WriteLine();

        var table = new TextTable(
            new TextColumn("mode"),
            new TextColumn("tracking at\nconstruction", "built"),
            new TextColumn("tracking\nnow", "now"),
            new TextColumn("normalized\nwith", "uses"),
            new TextColumn("running stats\nupdated", "updates"),
            new TextColumn("counter\n+1", "+1"),
            new TextColumn(SplitNearMiddle(singleValueHeader), "single"));
        foreach (SummaryRow row in rows)
        {
            table.AddRow(
                row.Mode,
                Bool(row.TrackAtConstruction),
                Bool(row.TrackNow),
                row.NormalizedWith switch { "batch" => "batch (var_b)", "instance" => "instance (var_b)", "error" => "error (see below)", var other => other },
                row.RunningStatsUpdated switch { null => "no buffers", true => $"yes ({row.UpdateMatches})", false => "no" },
                row.CounterIncremented switch { null => "no counter", true => "yes", false => "no" },
                row.SingleValueError ? "yes" : "no");
        }

        console.WriteLines(table.Render(width));
        foreach (SummaryRow row in rows.Where(r => r.Error is not null))
        {
            console.WriteLine();
            console.WriteLines(TextWrap.Hanging(
                $"error, {row.Mode} with tracking {Bool(row.TrackAtConstruction)} at construction and {Bool(row.TrackNow)} now: {row.Error}",
                width, "", "  "));
        }

        console.WriteLine();
        var attributeTable = new TextTable(new TextColumn("attribute"), new TextColumn("setting"), new TextColumn("observed"));
        foreach (AttributeObservation row in attributes) attributeTable.AddRow(row.Attribute, row.Setting, row.Observed);
        console.WriteLines(attributeTable.Render(width));
    }

    // Two heading lines of about the same length, "n == 1" over "error", "1 spatial" over "value error"; "n == 1" is
    // glued, so that it never wraps as "n ==" over "1".
    private static string SplitNearMiddle(string header)
    {
        int[] spaces = Enumerable.Range(0, header.Length).Where(i => header[i] == ' ').ToArray();
        if (spaces.Length == 0) return header;
        int space = spaces.MinBy(i => Math.Abs(2 * i - header.Length));
        string first = header[..space];
        return (first.Contains("==", StringComparison.Ordinal) ? first.Replace(' ', TextWrap.Glue) : first) + "\n" + header[(space + 1)..];
    }

    private static string Bool(bool value) => value ? "true" : "false";
}
