using System.Text.RegularExpressions;

namespace NormSharp.Distributed.Tests.Support;

/// <summary>How a job started by <see cref="MpiRun"/> ended.</summary>
/// <param name="Command">The command line, for messages.</param>
/// <param name="ExitCode">The launcher's (or the plain process's) exit code; -1 when it was killed at the timeout.</param>
/// <param name="StandardOutput">Everything the ranks (and the launcher) wrote to stdout.</param>
/// <param name="StandardError">Everything they wrote to stderr.</param>
/// <param name="TimedOut">Whether the job ran past its timeout and its whole process tree was killed.</param>
/// <param name="Elapsed">From start to exit (or kill).</param>
public sealed record MpiRunResult(string Command, int ExitCode, string StandardOutput, string StandardError, bool TimedOut, TimeSpan Elapsed)
{
    /// <summary>stdout and stderr together.</summary>
    public string Output => StandardOutput + StandardError;

    /// <summary>Asserts exit code 0 and exactly one line "rank R/N ok SCENARIO" for each of the <paramref name="ranks"/> ranks.</summary>
    public void AssertSucceeded(int ranks, string scenario)
    {
        Assert.False(TimedOut, $"the job did not finish within its timeout and was killed\n{this}");
        Assert.True(ExitCode == 0, $"the job exited with {ExitCode}\n{this}");
        AssertMarkers(ranks, "ok " + scenario);
    }

    /// <summary>Asserts exactly one line "rank R/N MARKER" on stdout for each of the <paramref name="ranks"/> ranks.</summary>
    public void AssertMarkers(int ranks, string marker)
    {
        for (int rank = 0; rank < ranks; rank++)
        {
            string line = $"rank {rank}/{ranks} {marker}";
            int count = Regex.Count(StandardOutput, "^" + Regex.Escape(line) + "$", RegexOptions.Multiline);
            Assert.True(count == 1, $"expected one line '{line}', found {count}\n{this}");
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"$ {Command}\nexit code {ExitCode}{(TimedOut ? " (killed at the timeout)" : "")} after {Elapsed.TotalSeconds:F1} s\n"
        + $"--- stdout\n{StandardOutput}--- stderr\n{StandardError}---";
}
