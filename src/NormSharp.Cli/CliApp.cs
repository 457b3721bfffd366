using System.CommandLine;
using NormSharp.Cli.Commands;
using NormSharp.Cli.Rendering;

namespace NormSharp.Cli;

/// <summary>The <c>normsharp</c> command line: parsing, dispatch and exit codes.</summary>
/// <remarks>Every failure is one line on the error output, <c>error: </c> and the message, never a stack trace: exit code
/// 2 for a wrong command line (unknown option, bad or out-of-range value), 1 for bad data (an unreadable or corrupt
/// file) and, as a last resort, for any failure not foreseen.</remarks>
public static class CliApp
{
    /// <summary>Runs the CLI with <paramref name="args"/>; returns the exit code (0 ok, 1 failure, 2 usage error).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            var root = new RootCommand("NormSharp: PyTorch's batch normalization for .NET, and what its knobs really do.")
            {
                ExplainCommand.Create(output, error),
                InspectCommand.Create(output, error),
                ConvertCommand.Create(output, error),
                FoldCommand.Create(output, error),
                PlotCommand.Create(output, error),
                OutputWidth.CreateOption(),
            };
            ParseResult parse = root.Parse(args);
            if (parse.Errors.Count > 0)
                return CliError.Write(error, string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.'))) + " (run with --help for usage).", ExitCodes.Usage);

            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            // The last resort: a failure no command foresaw is still one line, not a stack trace.
            return CliError.Write(error, e.Message, ExitCodes.Failure);
        }
    }
}
