namespace NormSharp.Cli.Commands;

/// <summary>The CLI's exit codes.</summary>
public static class ExitCodes
{
    /// <summary>The command did its job.</summary>
    public const int Success = 0;

    /// <summary>The command failed while running.</summary>
    public const int Failure = 1;

    /// <summary>The command line was wrong: unknown option, bad value, malformed step.</summary>
    public const int Usage = 2;
}
