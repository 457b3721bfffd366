using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>
/// Word wrapping for the terminal: lines break at spaces only, never inside a word, unless one word alone is wider than
/// the line (then, and only then, the word is cut at the width). Widths are terminal cells (a CJK character is two).
/// </summary>
/// <remarks><see cref="Glue"/> joins two words into one unit that moves to the next line whole, and prints as a plain
/// space: <c>"-6.567" + Glue + "/"</c> keeps the slash with its number. An explicit <c>\n</c> ends a line.</remarks>
public static class TextWrap
{
    /// <summary>Glues two words so they are never wrapped apart; printed as a space. A control character (the unit
    /// separator), so that text from a file cannot hold it: <see cref="TerminalText"/> escapes every one.</summary>
    public const char Glue = '\u001F';

    /// <summary>Terminal cells that <paramref name="text"/> takes.</summary>
    public static int Width(string text) => text.GetCellWidth();

    /// <summary>The widest unit of <paramref name="text"/> that wrapping keeps whole (glued words count as one).</summary>
    public static int LongestWord(string text) =>
        text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(w => Width(Plain(w))).DefaultIfEmpty(0).Max();

    /// <summary>The width <paramref name="text"/> takes unwrapped: its longest explicit line.</summary>
    public static int NaturalWidth(string text) => text.Split('\n').Max(line => Width(Plain(Collapse(line))));

    /// <summary><paramref name="text"/> broken into lines of at most <paramref name="width"/> cells (at least one line,
    /// possibly empty).</summary>
    public static IReadOnlyList<string> Wrap(string text, int width) => Wrap(text, width, width);

    /// <summary>
    /// <paramref name="text"/> wrapped to <paramref name="width"/>, the first line after <paramref name="firstPrefix"/> and
    /// the others after <paramref name="restPrefix"/> (a hanging indent); the prefixes count in the width.
    /// </summary>
    public static IEnumerable<string> Hanging(string text, int width, string firstPrefix, string restPrefix)
    {
        List<string> lines = Wrap(text, Math.Max(1, width - Width(firstPrefix)), Math.Max(1, width - Width(restPrefix)));
        for (int i = 0; i < lines.Count; i++)
            yield return ((i == 0 ? firstPrefix : restPrefix) + lines[i]).TrimEnd();
    }

    private static List<string> Wrap(string text, int firstWidth, int restWidth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(firstWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(restWidth, 1);
        var lines = new List<string>();
        int Room() => lines.Count == 0 ? firstWidth : restWidth;
        foreach (string paragraph in text.Split('\n'))
        {
            string current = "";
            foreach (string unit in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string word = Plain(unit);
                if (current.Length > 0 && Width(current) + 1 + Width(word) <= Room())
                {
                    current += " " + word;
                    continue;
                }

                if (current.Length > 0) lines.Add(current);
                current = word;
                while (Width(current) > Room())
                {
                    // One word wider than the line: the only case where a word is cut.
                    int cut = CutAt(current, Room());
                    lines.Add(current[..cut]);
                    current = current[cut..];
                }
            }

            lines.Add(current);
        }

        return lines;
    }

    private static string Plain(string unit) => unit.Replace(Glue, ' ');

    private static string Collapse(string line) => string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static int CutAt(string word, int width)
    {
        int cut = 0;
        while (cut < word.Length && Width(word[..(cut + 1)]) <= width) cut++;
        if (cut > 0 && cut < word.Length && char.IsHighSurrogate(word[cut - 1])) cut--;   // never split a surrogate pair
        return Math.Max(cut, 1);
    }
}
