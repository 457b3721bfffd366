using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NormSharp.Cli.Rendering;

/// <summary>
/// Text from a file (a tensor name, a path, an error naming either) made safe to print: a name holding
/// <c>ESC[2J</c> must show as text, not clear the terminal. Control characters (C0, DEL, C1), the Unicode line and
/// paragraph separators and the bidirectional overrides are written as <c>\u</c> escapes, as JSON writes them.
/// </summary>
public static partial class TerminalText
{
    /// <summary><paramref name="text"/> with every character that could act on a terminal written as <c>\uXXXX</c>.</summary>
    public static string Escape(string text)
    {
        if (!text.Any(NeedsEscape)) return text;
        var escaped = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (NeedsEscape(c)) escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else escaped.Append(c);
        }

        return escaped.ToString();
    }

    /// <summary>One line of text: line breaks and tabs (with the spaces around them) become one space, then
    /// <see cref="Escape"/>.</summary>
    public static string OneLine(string text) => Escape(LineBreaks().Replace(text, " "));

    [GeneratedRegex(@" *[\r\n\t\u2028\u2029]+[ \r\n\t\u2028\u2029]*")]
    private static partial Regex LineBreaks();

    private static bool NeedsEscape(char c) =>
        char.IsControl(c)
        || c is '\u2028' or '\u2029'                       // line and paragraph separators
        || c is >= '\u202A' and <= '\u202E'                // bidirectional embeddings and overrides
        || c is >= '\u2066' and <= '\u2069'                // bidirectional isolates
        || c is '\u200E' or '\u200F' or '\u061C';          // direction marks
}
