using CsCheck;
using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.ProcessGroups;

/// <summary>
/// A program started without an MPI launcher is a one-process world implemented in managed code: rank 0 of 1, collectives
/// are copies, no MPI library is loaded, and the arguments obey the same rules as under MPI. The in-process tests run in
/// the test process itself, which no launcher started; one test runs the helper with plain <c>dotnet</c>.
/// </summary>
[Collection(MpiJobs.Name)]
public class SingleProcessWorldTests
{
    private static MpiProcessGroup World
    {
        get
        {
            Assert.True(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is null && Environment.GetEnvironmentVariable("PMI_SIZE") is null,
                "these tests need a test process that no MPI launcher started; run `dotnet test` directly");
            return MpiProcessGroup.World;
        }
    }

    [Fact]
    public void World_WithoutLauncher_IsRankZeroOfOneAndNeedsNoMpi()
    {
        MpiProcessGroup world = World;
        Assert.Equal((0, 1, false, "none (single process)"), (world.Rank, world.Size, world.IsDistributed, world.Library));
        Assert.DoesNotContain("libmpi", File.ReadAllText("/proc/self/maps"), StringComparison.Ordinal);
    }

    [Fact]
    public void Collectives_WithoutLauncher_LeaveOrCopyTheValues()
    {
        MpiProcessGroup world = World;
        Gen.Double.Array[0, 300].Sample(values =>
        {
            double[] gathered = new double[values.Length];
            world.AllGather(values, gathered);
            double[] summed = (double[])values.Clone(), broadcast = (double[])values.Clone();
            world.AllReduceSum(summed);
            world.Broadcast(broadcast, 0);
            world.Barrier();
            return gathered.SequenceEqual(values) && summed.SequenceEqual(values) && broadcast.SequenceEqual(values);
        });
    }

    [Fact]
    public void Split_WithoutLauncher_GivesAOneProcessGroupOrNullForANegativeColor()
    {
        MpiProcessGroup world = World;
        MpiProcessGroup? part = world.Split(color: 5, key: -3);
        Assert.NotNull(part);
        Assert.Equal((0, 1, false), (part.Rank, part.Size, part.IsDistributed));
        part.Dispose();
        Assert.Throws<ObjectDisposedException>(part.Barrier);
        Assert.Null(world.Split(color: -1, key: 0));
    }

    [Fact]
    public void Dispose_OfTheWorld_DoesNothing()
    {
        World.Dispose();
        World.Barrier();
        Assert.Same(World, MpiProcessGroup.World);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 3)]
    [InlineData(0, 1)]
    public void AllGather_WithReceiveNotSizeTimesSend_ThrowsArgumentException(int sendLength, int receiveLength)
    {
        var error = Assert.Throws<ArgumentException>(() => World.AllGather(new double[sendLength], new double[receiveLength]));
        Assert.Equal("receive", error.ParamName);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void Broadcast_FromARootOutsideTheGroup_ThrowsArgumentOutOfRange(int root)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => World.Broadcast(new double[2], root));
        Assert.Equal("root", error.ParamName);
    }

    [Fact]
    public void Timeout_DefaultsToTenMinutesAndRefusesNonPositiveValues()
    {
        Assert.Equal(TimeSpan.FromMinutes(10), World.Timeout);
        Assert.Throws<ArgumentOutOfRangeException>(() => World.Timeout = TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => World.Timeout = TimeSpan.FromSeconds(-2));
        World.Timeout = Timeout.InfiniteTimeSpan;
        World.Timeout = TimeSpan.FromMinutes(10);
    }

    [Fact]
    public void Helper_WithoutLauncher_RunsAsAOneProcessWorldWithTheEnvironmentsTimeout()
    {
        MpiRunResult run = MpiRun.WithoutLauncher("single", environment: new Dictionary<string, string> { ["NORMSHARP_MPI_TIMEOUT_SECONDS"] = "2.5" });
        run.AssertSucceeded(1, "single");
        Assert.Contains("timeout 00:00:02.5000000", run.StandardOutput);
    }
}
