using System.CommandLine;
using NormSharp.Cli.Commands;

namespace NormSharp.Cli;

/// <summary>The <c>normsharp</c> command line: parsing, dispatch and exit codes.</summary>
public static class CliApp
{
    /// <summary>Runs the CLI with <paramref name="args"/>; returns the exit code (0 ok, 1 failure, 2 usage error).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("NormSharp: PyTorch's batch normalization for .NET, and what its knobs really do.")
        {
            ExplainCommand.Create(output, error),
            InspectCommand.Create(output, error),
        };
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors) error.WriteLine(parseError.Message);
            error.WriteLine("Run with --help for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            error.WriteLine(e.Message);
            return ExitCodes.Failure;
        }
    }
}
