using NormSharp.Distributed.Tests.Support;
using Xunit.Abstractions;

namespace NormSharp.Distributed.Tests.Synchronization;

/// <summary>
/// SyncBatchNorm with one process per rank under a real launcher: the equivalence scenarios (the same code the in-process
/// tests run on threads), disagreements and failures, and the data-parallel sample, on Open MPI; the invariant on MPICH.
/// </summary>
[Collection(MpiJobs.Name)]
public sealed class MpiSyncBatchNormTests(ITestOutputHelper output)
{
    private MpiRunResult Report(MpiRunResult result)
    {
        output.WriteLine(result.ToString());
        return result;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryRank_EqualsOneBatchNormOnTheWholeBatch_OnOpenMpi(int ranks) =>
        Report(MpiRun.OpenMpi(ranks, "syncbn-equivalence", ["0", "60"])).AssertSucceeded(ranks, "syncbn-equivalence");

    [Theory]
    [InlineData("float")]
    [InlineData("double")]
    public void InputsWithMean1e4AndStd1_EqualOneBatchNormOnTheWholeBatch_OnOpenMpi(string type) =>
        Report(MpiRun.OpenMpi(2, "syncbn-equivalence", ["500", "30", type, "1e4"])).AssertSucceeded(2, "syncbn-equivalence");

    [Fact]
    public void EveryRank_EqualsOneBatchNormOnTheWholeBatch_OnMpich() =>
        Report(MpiRun.Mpich(3, "syncbn-equivalence", ["1000", "40"])).AssertSucceeded(3, "syncbn-equivalence");

    [Fact]
    public void LayersThatDisagree_ThrowOnEveryRank() =>
        Report(MpiRun.OpenMpi(2, "syncbn-disagree")).AssertSucceeded(2, "syncbn-disagree");

    [Fact]
    public void ARankWhoseChecksFail_MakesEveryOtherRankThrow_AndTheGroupStaysUsable() =>
        Report(MpiRun.OpenMpi(3, "syncbn-rank-fails")).AssertSucceeded(3, "syncbn-rank-fails");

    [Fact]
    public void ARankThatCrashes_EndsTheJobWithItsMessage_NeverAHang()
    {
        // The others' timeout is 60 s: ending well before it means the crash ended the job (MPI_Abort), not the timeout.
        MpiRunResult result = Report(MpiRun.OpenMpi(2, "syncbn-rank-crashes", environment: new Dictionary<string, string> { ["NORMSHARP_MPI_TIMEOUT_SECONDS"] = "60" },
                                                    timeout: TimeSpan.FromSeconds(50)));
        Assert.False(result.TimedOut, result.ToString());
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(30), result.ToString());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("rank 1 crashed on purpose before its forward", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void ARankEvaluatingWhileAnotherTrains_EndsTheJobAtTheTimeout_WithAClearMessage()
    {
        MpiRunResult result = Report(MpiRun.OpenMpi(2, "syncbn-eval-while-training", environment: new Dictionary<string, string> { ["NORMSHARP_MPI_TIMEOUT_SECONDS"] = "2" }));
        Assert.False(result.TimedOut, result.ToString());
        result.AssertMarkers(2, "ok syncbn-eval-while-training");
        Assert.Contains("did not complete within", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2, "")]
    [InlineData(2, "--double")]
    [InlineData(3, "")]
    public void DataParallelSample_EqualsOneProcessOnWholeBatches(int ranks, string type)
    {
        string sample = Path.Combine(AppContext.BaseDirectory, "DataParallelTraining.dll");
        MpiRunResult result = Report(MpiRun.OpenMpiProgram(ranks, sample, type.Length == 0 ? ["--epochs", "4"] : [type, "--epochs", "4"]));
        Assert.True(result.ExitCode == 0, result.ToString());
        for (int rank = 0; rank < ranks; rank++)
            Assert.Matches($"(?m)^rank {rank}/{ranks}: largest relative difference .*: equal$", result.StandardOutput);
    }
}
