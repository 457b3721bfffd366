using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>How wide the output is and whether it may carry colours: decided once, from where it goes.</summary>
/// <param name="Width">The width tables and text are laid out for, in terminal cells.</param>
/// <param name="Colors">Whether ANSI sequences (colours, styles) may be written.</param>
public sealed record OutputSettings(int Width, bool Colors)
{
    /// <summary>The width of output that goes to a file or a pipe (and of a terminal that does not say).</summary>
    public const int RedirectedWidth = 80;

    /// <summary>
    /// The settings for output to a terminal <paramref name="windowWidth"/> cells wide (or, when
    /// <paramref name="isTerminal"/> is false, to a file or a pipe): the width is <paramref name="requestedWidth"/>
    /// (<c>--width</c>) when given, else the window's width on a terminal, else <see cref="RedirectedWidth"/>. Colours
    /// only on a terminal, and never when <c>NO_COLOR</c> is set to anything but the empty string (no-color.org).
    /// </summary>
    public static OutputSettings Resolve(bool isTerminal, int windowWidth, int? requestedWidth, string? noColor) => new(
        requestedWidth ?? (isTerminal && windowWidth > 0 ? Math.Clamp(windowWidth, 20, OutputWidth.Maximum) : RedirectedWidth),
        isTerminal && string.IsNullOrEmpty(noColor));
}

/// <summary>Spectre consoles over any <see cref="TextWriter"/>, as wide as the terminal (80 columns when redirected).</summary>
public static class ConsoleFactory
{
    /// <summary>The settings for <paramref name="writer"/>: the terminal's when it is the console's standard output and
    /// that is not redirected; a file's or a pipe's otherwise (see <see cref="OutputSettings.Resolve"/>).</summary>
    public static OutputSettings SettingsFor(TextWriter writer, int? requestedWidth)
    {
        bool terminal = IsTerminal(writer);
        return OutputSettings.Resolve(terminal, terminal ? WindowWidth() : 0, requestedWidth, Environment.GetEnvironmentVariable("NO_COLOR"));
    }

    /// <summary>A console writing to <paramref name="writer"/> with <paramref name="settings"/>: plain text (no ANSI
    /// sequences at all) unless colours are allowed.</summary>
    public static IAnsiConsole Create(TextWriter writer, OutputSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = settings.Colors ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = settings.Colors ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = settings.Width;
        return console;
    }

    /// <summary>
    /// Draws with a Spectre console laid out for <paramref name="requestedWidth"/> (<c>--width</c>) or, when null, for
    /// where <paramref name="writer"/> goes. When that is not the terminal the text is cleaned for files and pipes: no
    /// trailing spaces, no runs of blank lines, no blank line at the end.
    /// </summary>
    public static void Render(TextWriter writer, int? requestedWidth, Action<IAnsiConsole> draw)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(draw);
        OutputSettings settings = SettingsFor(writer, requestedWidth);
        if (IsTerminal(writer))
        {
            draw(Create(writer, settings));
            return;
        }

        using var buffer = new StringWriter();
        draw(Create(buffer, settings));
        bool previousBlank = true;
        foreach (string line in buffer.ToString().TrimEnd().Split('\n'))
        {
            string trimmed = line.TrimEnd();
            bool blank = trimmed.Length == 0;
            if (!(blank && previousBlank)) writer.WriteLine(trimmed);
            previousBlank = blank;
        }
    }

    /// <summary>Writes each line as plain text: never read as markup, so a <c>[</c> from a file prints as itself.</summary>
    public static void WriteLines(this IAnsiConsole console, IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(lines);
        foreach (string line in lines) console.WriteLine(line);
    }

    private static bool IsTerminal(TextWriter writer) => ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;

    private static int WindowWidth()
    {
        try
        {
            return Console.WindowWidth;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
