using NormSharp.Cli.Rendering;

namespace NormSharp.Cli.Commands;

/// <summary>How the CLI reports a failure: one line on the error output.</summary>
public static class CliError
{
    /// <summary>Writes <c>error: </c> and <paramref name="message"/> as one line (line breaks become spaces, control
    /// characters are escaped, as the message may quote a file); returns <paramref name="exitCode"/>.</summary>
    public static int Write(TextWriter error, string message, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(error);
        error.WriteLine("error: " + TerminalText.OneLine(message));
        return exitCode;
    }
}
