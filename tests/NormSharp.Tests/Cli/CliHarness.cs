using NormSharp.Cli;

namespace NormSharp.Tests.Cli;

/// <summary>Runs the CLI in-process and checks the shape of its failures.</summary>
internal static class CliHarness
{
    public static (int Code, string Output, string Error) Run(params string[] args) => RunWith(new StringWriter(), args);

    public static (int Code, string Output, string Error) RunWith(TextWriter output, params string[] args)
    {
        var error = new StringWriter();
        int code = CliApp.Run(args, output, error);
        return (code, output.ToString() ?? "", error.ToString());
    }

    /// <summary>A failure is exactly one line on the error output, "error: ...", with no stack frame and no raw control
    /// character, and nothing on the standard output.</summary>
    public static string AssertOneLineError(string error)
    {
        Assert.EndsWith(Environment.NewLine, error, StringComparison.Ordinal);
        string line = Assert.Single(error.TrimEnd('\n', '\r').Split('\n'));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", error, StringComparison.Ordinal);
        Assert.DoesNotContain(line, char.IsControl);
        return line;
    }
}
