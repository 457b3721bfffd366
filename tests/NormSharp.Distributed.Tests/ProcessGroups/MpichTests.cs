using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.ProcessGroups;

/// <summary>The same collectives under MPICH's Hydra launcher, through the MPICH ABI (int handles, other constants).</summary>
[Collection(MpiJobs.Name)]
public class MpichTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Collectives_UnderMpich_GatherSumBroadcastAndSynchronize(int ranks)
    {
        MpiRunResult job = MpiRun.Mpich(ranks, "collectives");
        job.AssertSucceeded(ranks, "collectives");
        for (int rank = 0; rank < ranks; rank++) Assert.Matches($@"(?m)^rank {rank}/{ranks} library MPICH \d+\.\d+(\.\d+)?$", job.StandardOutput);
    }

    [Fact]
    public void Split_UnderMpich_FormsEvenAndOddSubGroups() =>
        MpiRun.Mpich(3, "split").AssertSucceeded(3, "split");

    [Fact]
    public void MissingPeer_UnderMpich_TimesOutAndFailsTheJob()
    {
        MpiRunResult job = MpiRun.Mpich(2, "timeout", ["2"]);
        TimeoutTests.AssertTimedOutAndFailed(job);
    }

    [Fact]
    public void MpiErrorCode_UnderMpich_BecomesAnMpiExceptionWithMpichsErrorStack()
    {
        MpiRunResult job = MpiRun.Mpich(2, "mismatch");
        Assert.True(job.ExitCode != 0 && !job.TimedOut, $"the job should fail by itself\n{job}");
        Assert.Contains("rank 1/2 checked mismatch\n", job.StandardOutput);
        Assert.Contains("MpiException: MPI_Ibcast (reported by MPI_Test) failed on rank 1 of 2: Other MPI error, error stack:", job.StandardError);
    }
}
