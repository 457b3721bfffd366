using System.Globalization;
using System.Text;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// The data behind a plot as CSV (RFC 4180): a header row, then one row per record. Numbers are written in the invariant
/// culture with round-trip precision (a float32 value parses back to the same float32), NaN and infinities as
/// <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>, a missing value as an empty cell.
/// </summary>
public sealed class CsvTable
{
    private readonly StringBuilder text = new();
    private readonly int columns;

    /// <summary>Starts a table with these column names.</summary>
    public CsvTable(params string[] header)
    {
        ArgumentNullException.ThrowIfNull(header);
        columns = header.Length;
        AppendRow(header);
    }

    /// <summary>Appends one row; each cell is a string, a number (double or float), a whole number, or null (empty).</summary>
    public void Add(params object?[] cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        if (cells.Length != columns) throw new ArgumentException($"a row of {cells.Length} cells in a table of {columns} columns.", nameof(cells));
        AppendRow(cells.Select(Format));
    }

    /// <summary>The table's text, rows ended by <c>\n</c>.</summary>
    public override string ToString() => text.ToString();

    /// <summary>The table as UTF-8 bytes, for writing.</summary>
    public byte[] ToBytes() => Encoding.UTF8.GetBytes(text.ToString());

    /// <summary>A number as this table writes it.</summary>
    public static string Number(double value) => value switch
    {
        double.PositiveInfinity => "Infinity",
        double.NegativeInfinity => "-Infinity",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string Format(object? cell) => cell switch
    {
        null => "",
        float f => float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : Number(f),
        double d => Number(d),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => cell.ToString() ?? "",
    };

    private void AppendRow(IEnumerable<string> cells)
    {
        text.AppendJoin(',', cells.Select(Quote));
        text.Append('\n');
    }

    private static string Quote(string cell) =>
        cell.IndexOfAny([',', '"', '\n', '\r']) < 0 ? cell : "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
