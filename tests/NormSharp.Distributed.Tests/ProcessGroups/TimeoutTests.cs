using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.ProcessGroups;

/// <summary>A rank that never joins a collective: the other throws by the group's timeout, and the job fails instead of hanging.</summary>
[Collection(MpiJobs.Name)]
public class TimeoutTests
{
    [Fact]
    public void MissingPeer_MakesTheCollectiveThrowAtTheTimeoutAndTheJobFail()
    {
        MpiRunResult job = MpiRun.OpenMpi(2, "timeout", ["2"]);
        AssertTimedOutAndFailed(job);
    }

    [Fact]
    public void MpiRun_KillsTheWholeJobWhenItRunsPastTheTestsTimeout()
    {
        // Rank 0 would wait 60 s for rank 1, which sleeps: only MpiRun's kill can end this job in time.
        MpiRunResult job = MpiRun.OpenMpi(2, "timeout", ["60"], timeout: TimeSpan.FromSeconds(3));
        Assert.True(job.TimedOut && job.Elapsed < TimeSpan.FromSeconds(15), $"the job should be killed at 3 s\n{job}");
        Thread.Sleep(500);
        string[] survivors = Directory.GetDirectories("/proc")
            .Select(folder => Path.Combine(folder, "cmdline"))
            .Select(path => { try { return File.ReadAllText(path).Replace('\0', ' '); } catch (IOException) { return ""; } catch (UnauthorizedAccessException) { return ""; } })
            .Where(command => command.Contains("NormSharp.Distributed.MpiHelper.dll timeout 60", StringComparison.Ordinal))
            .ToArray();
        Assert.True(survivors.Length == 0, $"ranks left running: {string.Join("; ", survivors)}");
    }

    /// <summary>The job ended by itself, non-zero, well before the test's kill; rank 0 checked the exception and the
    /// refusal of the next call, and the timeout message is in the output.</summary>
    internal static void AssertTimedOutAndFailed(MpiRunResult job)
    {
        Assert.False(job.TimedOut, $"the job hung until it was killed\n{job}");
        Assert.True(job.ExitCode != 0, $"the job should fail\n{job}");
        Assert.True(job.Elapsed < TimeSpan.FromSeconds(30), $"the job should end soon after the 2 s timeout\n{job}");
        Assert.Contains("rank 0/2 checked timeout\n", job.StandardOutput);
        Assert.Contains(
            "MpiException: MPI_Iallgather did not complete within 00:00:02 on rank 0 of 2: another process is not taking part "
            + "(it failed, or it is running a different operation).",
            job.StandardError);
        Assert.Contains("rank 0/2 then: MPI_Ibarrier was not started on rank 0 of 2: this process can no longer use MPI", job.StandardOutput);
    }
}
