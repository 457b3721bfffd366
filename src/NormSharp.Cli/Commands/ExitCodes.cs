namespace NormSharp.Cli.Commands;

/// <summary>The CLI's exit codes.</summary>
public static class ExitCodes
{
    /// <summary>The command did its job.</summary>
    public const int Success = 0;

    /// <summary>Bad data: a file that cannot be read or is not valid safetensors (or, as a last resort, any failure
    /// not foreseen).</summary>
    public const int Failure = 1;

    /// <summary>The command line was wrong: unknown option, bad or out-of-range value, malformed step.</summary>
    public const int Usage = 2;
}
