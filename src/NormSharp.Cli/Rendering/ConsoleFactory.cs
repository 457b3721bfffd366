using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Spectre consoles over any <see cref="TextWriter"/>, wide enough that tables never wrap when redirected.</summary>
public static class ConsoleFactory
{
    /// <summary>A console writing to <paramref name="writer"/>; plain text (no colours) unless it is the real terminal.</summary>
    public static IAnsiConsole Create(TextWriter writer)
    {
        bool terminal = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 240;
        return console;
    }

    /// <summary>
    /// Draws with a Spectre console; when <paramref name="writer"/> is not the terminal, the text is cleaned
    /// for files and pipes: no trailing spaces, no runs of blank lines.
    /// </summary>
    public static void Render(TextWriter writer, Action<IAnsiConsole> draw)
    {
        if (ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected)
        {
            draw(Create(writer));
            return;
        }

        using var buffer = new StringWriter();
        draw(Create(buffer));
        bool previousBlank = true;
        foreach (string line in buffer.ToString().Split('\n'))
        {
            string trimmed = line.TrimEnd();
            bool blank = trimmed.Length == 0;
            if (!(blank && previousBlank)) writer.WriteLine(trimmed);
            previousBlank = blank;
        }
    }
}
