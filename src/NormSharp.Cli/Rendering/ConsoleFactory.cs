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
}
