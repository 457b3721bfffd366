using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.ProcessGroups;

/// <summary>
/// The collectives of <see cref="MpiProcessGroup.World"/> in jobs of 1, 2 and 3 processes under Open MPI's mpirun, each
/// checked on every rank by the helper against values computed from the ranks.
/// </summary>
[Collection(MpiJobs.Name)]
public class OpenMpiCollectiveTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AllGather_ConcatenatesRankSpecificValuesInRankOrder(int ranks) =>
        MpiRun.OpenMpi(ranks, "allgather").AssertSucceeded(ranks, "allgather");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AllReduceSum_ReplacesEachValueWithItsSumOverTheRanks(int ranks) =>
        MpiRun.OpenMpi(ranks, "allreduce").AssertSucceeded(ranks, "allreduce");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Broadcast_FromEachRoot_GivesEveryRankTheRootsValues(int ranks) =>
        MpiRun.OpenMpi(ranks, "broadcast").AssertSucceeded(ranks, "broadcast");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Barrier_ReleasesNoRankBeforeTheLastOneHasEntered(int ranks) =>
        MpiRun.OpenMpi(ranks, "barrier").AssertSucceeded(ranks, "barrier");

    [Fact]
    public void World_UnderMpirun_LoadsOpenMpiAndNamesItsVersion()
    {
        MpiRunResult job = MpiRun.OpenMpi(2, "collectives");
        job.AssertSucceeded(2, "collectives");
        Assert.Matches(@"(?m)^rank 0/2 library Open MPI \d+\.\d+\.\d+$", job.StandardOutput);
        Assert.Matches(@"(?m)^rank 1/2 library Open MPI \d+\.\d+\.\d+$", job.StandardOutput);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Split_ByParityAndKey_FormsOrderedSubGroupsWhoseCollectivesWork(int ranks) =>
        MpiRun.OpenMpi(ranks, "split").AssertSucceeded(ranks, "split");

    [Fact]
    public void ArgumentErrors_UnderMpirun_ThrowBeforeAnyMpiCallAndLeaveTheGroupUsable() =>
        MpiRun.OpenMpi(2, "arguments").AssertSucceeded(2, "arguments");

    [Fact]
    public void MpiErrorCode_BecomesAnMpiExceptionNamingTheCallTheRankAndMpisText()
    {
        MpiRunResult job = MpiRun.OpenMpi(2, "mismatch");
        Assert.True(job.ExitCode != 0 && !job.TimedOut, $"the job should fail by itself\n{job}");
        Assert.Contains("rank 1/2 checked mismatch\n", job.StandardOutput);
        Assert.Contains("MpiException: MPI_Ibcast (reported by MPI_Test) failed on rank 1 of 2: MPI_ERR_TRUNCATE: message truncated (MPI error code 15).", job.StandardError);
    }
}
