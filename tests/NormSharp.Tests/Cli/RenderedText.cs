namespace NormSharp.Tests.Cli;

/// <summary>Reads the CLI's text output back: its words, its abbreviations, and the cells of its tables.</summary>
internal static class RenderedText
{
    private static readonly char[] WordSeparators = [' ', '|', ';', ',', ':', '(', ')', '[', ']', '=', '.', '!', '/'];

    /// <summary>The words of <paramref name="text"/>, punctuation, table borders and rules left out.</summary>
    public static IEnumerable<string> Words(string text) =>
        text.Split('\n').SelectMany(line => line.Split(WordSeparators, StringSplitOptions.RemoveEmptyEntries)).Where(w => w.Any(c => c != '-'));

    /// <summary>The words that only legends bring ("Columns: a = b; c = d."): "Columns" and the short headings.</summary>
    public static IEnumerable<string> LegendWords(string text)
    {
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("Columns: ", StringComparison.Ordinal)) continue;
            yield return "Columns";
            string legend = string.Join(' ', lines.Skip(i).TakeWhile(l => l.Length > 0))["Columns: ".Length..];
            foreach (string entry in legend.Split("; "))
                yield return entry[..entry.IndexOf(" = ", StringComparison.Ordinal)];
        }
    }

    /// <summary>
    /// The data rows of every table in <paramref name="text"/>, each row its cells: the pieces of a wrapped cell joined by
    /// one space. Columns are read at the positions of the rule under the headings; a row starts on a line whose first
    /// cell has text, or after a rule.
    /// </summary>
    public static List<List<string[]>> Tables(string text)
    {
        var tables = new List<List<string[]>>();
        string[] lines = text.Split('\n');
        int i = 0;
        while (i < lines.Length)
        {
            if (!IsTableLine(lines[i]))
            {
                i++;
                continue;
            }

            var block = new List<string>();
            while (i < lines.Length && IsTableLine(lines[i])) block.Add(lines[i++]);
            int ruleIndex = block.FindIndex(IsRule);
            Assert.True(ruleIndex > 0, "a table without a heading rule:\n" + string.Join('\n', block));
            (int Start, int Length)[] spans = Spans(block[ruleIndex]);
            var rows = new List<List<string>[]>();
            bool newRow = true;
            foreach (string line in block.Skip(ruleIndex + 1))
            {
                if (IsRule(line))
                {
                    newRow = true;
                    continue;
                }

                string[] pieces = spans.Select(s => line.Substring(s.Start, Math.Min(s.Length, Math.Max(0, line.Length - s.Start))).Trim()).ToArray();
                if (newRow || pieces[0].Length > 0) rows.Add(spans.Select(_ => new List<string>()).ToArray());
                newRow = false;
                for (int c = 0; c < pieces.Length; c++)
                    if (pieces[c].Length > 0) rows[^1][c].Add(pieces[c]);
            }

            tables.Add(rows.Select(r => r.Select(pieces => string.Join(' ', pieces)).ToArray()).ToList());
        }

        return tables;
    }

    private static bool IsTableLine(string line) => line.StartsWith("| ", StringComparison.Ordinal) && line.EndsWith(" |", StringComparison.Ordinal);

    private static bool IsRule(string line) => line.All(c => c is '|' or '-' or ' ') && line.Contains('-', StringComparison.Ordinal);

    private static (int Start, int Length)[] Spans(string rule)
    {
        var spans = new List<(int, int)>();
        for (int i = 0; i < rule.Length; i++)
        {
            if (rule[i] != '-') continue;
            int start = i;
            while (i < rule.Length && rule[i] == '-') i++;
            spans.Add((start, i - start));
        }

        return [.. spans];
    }
}
