namespace NormSharp.Cli.Rendering;

/// <summary>A column of a <see cref="TextTable"/>.</summary>
/// <param name="Header">The heading; a <c>\n</c> marks where it splits into two lines when one line is too wide.</param>
/// <param name="Short">A shorter heading for narrow terminals, explained in a legend under the table (null: none).</param>
public sealed record TextColumn(string Header, string? Short = null)
{
    /// <summary>The heading on one line, as the stacked layout and the legend write it.</summary>
    public string Label => string.Join(' ', Header.Split(['\n', ' ', TextWrap.Glue], StringSplitOptions.RemoveEmptyEntries));
}

/// <summary>
/// A table laid out for a given width: lines never exceed it, and cell text wraps at spaces, never inside a word.
/// </summary>
/// <remarks>
/// The first layout that fits is used:
/// <list type="number">
/// <item>one line per row and per heading (a Markdown table, as wide terminals and files have always shown);</item>
/// <item>one line per row, headings split where they mark it (<c>\n</c>);</item>
/// <item>cells and headings wrapped at spaces, each column at least as wide as its longest word, the spare width where
/// it saves the most lines; a row starts on the line whose first cell has text (rules separate the rows when a first
/// cell wraps or is empty). The headings are the full ones, or the short ones with a legend under the table that
/// spells them out when that takes fewer lines even with the legend counted twice;</item>
/// <item>stacked: one block per row, one <c>heading: value</c> line per cell, the values wrapped (and under their
/// heading when a word of theirs does not fit beside it).</item>
/// </list>
/// </remarks>
public sealed class TextTable
{
    private const string Separator = " | ";
    private readonly TextColumn[] columns;
    private readonly List<string[]> rows = [];

    /// <summary>A table with these columns.</summary>
    public TextTable(params TextColumn[] columns)
    {
        ArgumentOutOfRangeException.ThrowIfZero(columns.Length);
        this.columns = columns;
    }

    /// <summary>Adds a row: one text per column.</summary>
    public void AddRow(params string[] cells)
    {
        if (cells.Length != columns.Length) throw new ArgumentException($"a row has {columns.Length} cells, not {cells.Length}.", nameof(cells));
        rows.Add(cells);
    }

    /// <summary>The table's lines for a terminal <paramref name="width"/> cells wide.</summary>
    public IReadOnlyList<string> Render(int width)
    {
        string[] oneLine = columns.Select(c => c.Label).ToArray();
        string[] split = columns.Select(c => c.Header).ToArray();
        List<string>? unwrapped = Unwrapped(oneLine, width) ?? Unwrapped(split, width);
        if (unwrapped is not null) return unwrapped;
        List<string>? full = Wrapped(split, width, legend: null);
        List<string>? abbreviated = columns.Any(c => c.Short is not null)
            ? Wrapped(columns.Select(c => c.Short ?? c.Header).ToArray(), width, Legend())
            : null;
        if (full is null && abbreviated is null) return Stacked(width);
        if (full is null) return abbreviated!;
        if (abbreviated is null) return full;

        // A legend costs the reader more than a wrapped line: it counts double.
        int legendLines = TextWrap.Wrap(Legend(), width).Count + 1;
        return abbreviated.Count + legendLines < full.Count ? abbreviated : full;
    }

    private int Borders => Separator.Length * (columns.Length - 1) + 4;

    private List<string>? Unwrapped(string[] headers, int width)
    {
        int[] widths = Enumerable.Range(0, columns.Length)
            .Select(c => rows.Select(r => TextWrap.NaturalWidth(r[c])).Append(TextWrap.NaturalWidth(headers[c])).Max())
            .ToArray();
        if (widths.Sum() + Borders > width) return null;
        if (rows.Any(r => r.Any(cell => cell.Contains('\n', StringComparison.Ordinal)))) return null;
        return Draw(headers.Select(h => Unglue(h).Split('\n')).ToArray(), rows.Select(r => r.Select(cell => (IReadOnlyList<string>)[Unglue(cell)]).ToArray()).ToList(), widths, rules: false);
    }

    private List<string>? Wrapped(string[] headers, int width, string? legend)
    {
        int room = width - Borders;
        int[] minimum = Enumerable.Range(0, columns.Length)
            .Select(c => rows.Select(r => TextWrap.LongestWord(r[c])).Append(TextWrap.LongestWord(headers[c])).Append(1).Max())
            .ToArray();
        if (minimum.Sum() > room) return null;
        int[] natural = Enumerable.Range(0, columns.Length)
            .Select(c => rows.Select(r => TextWrap.NaturalWidth(r[c])).Append(TextWrap.NaturalWidth(headers[c])).Append(minimum[c]).Max())
            .ToArray();
        int[] widths = Share(headers, minimum, natural, room - minimum.Sum());

        var cells = rows.Select(r => r.Select((cell, c) => TextWrap.Wrap(cell, widths[c])).ToArray()).ToList();
        var heading = headers.Select((h, c) => TextWrap.Wrap(h, widths[c])).ToArray();
        // A row starts on the line whose first cell has text; rules between rows are needed only when that cannot be seen.
        bool rules = cells.Any(r => r[0].Count > 1 || r[0][0].Length == 0);
        List<string> lines = Draw(heading, cells, widths, rules);
        if (legend is not null) lines.AddRange(["", .. TextWrap.Wrap(legend, width)]);
        return lines;
    }

    // Spare cells go, a few at a time, to the column where they save the most table lines per cell spent (then the most
    // wrapped cell lines); ties go to the leftmost column. Columns never grow past their unwrapped width. Each column's
    // line counts are computed once per width tried, so a table of hundreds of rows is laid out at once.
    private int[] Share(string[] headers, int[] minimum, int[] natural, int spare)
    {
        var heights = new Dictionary<(int Column, int Width), int[]>();
        int[] Heights(int column, int width)
        {
            if (!heights.TryGetValue((column, width), out int[]? lines))
            {
                lines = [TextWrap.Wrap(headers[column], width).Count, .. rows.Select(r => TextWrap.Wrap(r[column], width).Count)];
                heights[(column, width)] = lines;
            }

            return lines;
        }

        (int Table, int Cells) Cost(int[] widths)
        {
            int[][] columnHeights = widths.Select((width, column) => Heights(column, width)).ToArray();
            int table = 0, cellLines = 0;
            for (int line = 0; line <= rows.Count; line++)
            {
                table += columnHeights.Max(h => h[line]);
                if (line > 0) cellLines += columnHeights.Sum(h => h[line]);
            }

            return (table, cellLines);
        }

        int[] widths = (int[])minimum.Clone();
        (int Table, int Cells) cost = Cost(widths);
        while (spare > 0)
        {
            (int Column, int Grow, double Gain, (int, int) Cost)? best = null;
            for (int c = 0; c < columns.Length; c++)
            {
                for (int grow = 1; grow <= Math.Min(spare, natural[c] - widths[c]); grow++)
                {
                    int[] trial = (int[])widths.Clone();
                    trial[c] += grow;
                    (int Table, int Cells) next = Cost(trial);
                    if (next.Table >= cost.Table && next.Cells >= cost.Cells) continue;
                    double gain = ((cost.Table - next.Table) * 1000.0 + (cost.Cells - next.Cells)) / grow;
                    if (best is null || gain > best.Value.Gain) best = (c, grow, gain, next);
                    break;
                }
            }

            if (best is not { } chosen) break;
            widths[chosen.Column] += chosen.Grow;
            spare -= chosen.Grow;
            cost = chosen.Cost;
        }

        return widths;
    }

    private static List<string> Draw(IReadOnlyList<string>[] heading, List<IReadOnlyList<string>[]> cells, int[] widths, bool rules)
    {
        var lines = new List<string>();
        string rule = "| " + string.Join(Separator, widths.Select(w => new string('-', w))) + " |";
        lines.AddRange(Lines(heading, widths));
        lines.Add(rule);
        for (int r = 0; r < cells.Count; r++)
        {
            if (rules && r > 0) lines.Add(rule);
            lines.AddRange(Lines(cells[r], widths));
        }

        return lines;
    }

    private static IEnumerable<string> Lines(IReadOnlyList<string>[] cells, int[] widths)
    {
        int height = cells.Max(c => c.Count);
        for (int line = 0; line < height; line++)
            yield return "| " + string.Join(Separator, cells.Select((c, i) => Pad(line < c.Count ? c[line] : "", widths[i]))) + " |";
    }

    private static string Pad(string text, int width) => text + new string(' ', Math.Max(0, width - TextWrap.Width(text)));

    private static string Unglue(string text) => text.Replace(TextWrap.Glue, ' ');

    private string Legend() =>
        "Columns: " + string.Join("; ", columns.Where(c => c.Short is not null).Select(c => $"{c.Short} = {c.Label}")) + ".";

    private List<string> Stacked(int width)
    {
        string[] labels = columns.Select(c => c.Label + ":").ToArray();
        int labelWidth = labels.Max(TextWrap.Width);
        bool aligned = labelWidth + 1 <= width / 2;
        var lines = new List<string>();
        foreach (string[] row in rows)
        {
            if (lines.Count > 0) lines.Add("");
            for (int c = 0; c < columns.Length; c++)
            {
                // The value beside its label when its longest word fits there; else under it, indented.
                string first = aligned ? Pad(labels[c], labelWidth) + " " : labels[c] + " ";
                string rest = aligned ? new string(' ', labelWidth + 1) : "  ";
                lines.AddRange(TextWrap.Width(first) + TextWrap.LongestWord(row[c]) <= width
                    ? TextWrap.Hanging(row[c], width, first, rest)
                    : [labels[c], .. TextWrap.Hanging(row[c], width, "  ", "  ")]);
            }
        }

        return lines;
    }
}
