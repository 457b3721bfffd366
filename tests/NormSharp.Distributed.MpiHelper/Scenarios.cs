using System.Diagnostics;
using System.Globalization;

namespace NormSharp.Distributed.MpiHelper;

/// <summary>The scenarios, by name; each runs on every rank of the job and throws when a check fails.</summary>
internal static class Scenarios
{
    public static readonly IReadOnlyDictionary<string, Action<string[]>> All = new Dictionary<string, Action<string[]>>(SyncBatchNormScenarios.All)
    {
        ["allgather"] = _ => AllGather(MpiProcessGroup.World),
        ["allreduce"] = _ => AllReduce(MpiProcessGroup.World),
        ["broadcast"] = _ => Broadcast(MpiProcessGroup.World),
        ["barrier"] = _ => Barrier(MpiProcessGroup.World),
        ["collectives"] = _ => Collectives(),
        ["split"] = _ => Split(),
        ["arguments"] = _ => Arguments(),
        ["timeout"] = Timeout,
        ["single"] = _ => Single(),
        ["library"] = Library,
        ["wrong-library"] = _ => WrongLibrary(),
        ["latency"] = Latency,
        ["mismatch"] = _ => Mismatch(),
    };

    /// <summary>"rank R/N" of the world, from the launcher's variables when the world could not be made.</summary>
    public static string Label()
    {
        string rank = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") ?? Environment.GetEnvironmentVariable("PMI_RANK") ?? "0";
        string size = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") ?? Environment.GetEnvironmentVariable("PMI_SIZE") ?? "1";
        return $"rank {rank}/{size}";
    }

    /// <summary>Rank-specific values, in rank order, of several lengths (129 = SyncBatchNorm's 2C+1 for C = 64).</summary>
    private static void AllGather(MpiProcessGroup group, Func<int, double>? identity = null)
    {
        identity ??= rank => rank;
        foreach (int length in new[] { 0, 1, 129 })
        {
            double[] send = Values(identity(group.Rank), length);
            double[] receive = new double[group.Size * length];
            group.AllGather(send, receive);
            double[] expected = Enumerable.Range(0, group.Size).SelectMany(r => Values(identity(r), length)).ToArray();
            Expect.Equal(expected, receive, $"AllGather of {length} values on {group}");
        }
    }

    /// <summary>The element-wise sum of rank-specific values, in place, for SyncBatchNorm's backward length (2C, C = 1024).</summary>
    private static void AllReduce(MpiProcessGroup group)
    {
        foreach (int length in new[] { 0, 1, 2048 })
        {
            double[] values = Enumerable.Range(0, length).Select(i => (group.Rank + 1) * (i + 1) + 0.5).ToArray();
            group.AllReduceSum(values);
            int n = group.Size;
            double[] expected = Enumerable.Range(0, length).Select(i => (i + 1) * (n * (n + 1) / 2.0) + 0.5 * n).ToArray();
            Expect.Equal(expected, values, $"AllReduceSum of {length} values on {group}");
        }
    }

    /// <summary>From each root in turn: every rank ends with the root's values.</summary>
    private static void Broadcast(MpiProcessGroup group)
    {
        foreach (int length in new[] { 0, 5 })
        {
            for (int root = 0; root < group.Size; root++)
            {
                double[] values = group.Rank == root ? Values(100 + root, length) : Enumerable.Repeat(double.NaN, length).ToArray();
                group.Broadcast(values, root);
                Expect.Equal(Values(100 + root, length), values, $"Broadcast of {length} values from root {root} on {group}");
            }
        }
    }

    /// <summary>No rank leaves the barrier before the last one (rank 0, 300 ms late) has entered it.</summary>
    private static void Barrier(MpiProcessGroup group)
    {
        group.Barrier();
        if (group.Rank == 0) Thread.Sleep(300);
        long entered = Stopwatch.GetTimestamp();
        group.Barrier();
        TimeSpan waited = Stopwatch.GetElapsedTime(entered);
        if (group.Rank != 0) Expect.True(waited >= TimeSpan.FromMilliseconds(250), $"Barrier to wait for rank 0 (300 ms late), waited {waited.TotalMilliseconds:F0} ms");
        for (int i = 0; i < 100; i++) group.Barrier();
    }

    private static void Collectives()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        Say.Line($"{Label()} library {world.Library}");
        AllGather(world);
        AllReduce(world);
        Broadcast(world);
        Barrier(world);
    }

    /// <summary>Even and odd ranks, ordered by key; a reversed key; a rank that joins no group.</summary>
    private static void Split()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        int parity = world.Rank % 2;
        int[] sameParity = Enumerable.Range(0, world.Size).Where(r => r % 2 == parity).ToArray();

        using (MpiProcessGroup? half = world.Split(color: parity, key: world.Rank))
        {
            Expect.True(half is not null, "a group for a non-negative color");
            Expect.True(half!.Size == sameParity.Length && half.Rank == world.Rank / 2, $"{half} to be rank {world.Rank / 2} of {sameParity.Length}");
            Expect.True(half.IsDistributed && half.Library == world.Library, "a sub-group over the world's MPI");
            AllGather(half, subRank => sameParity[subRank]);
            AllReduce(half);
            Broadcast(half);
            Barrier(half);
        }

        using (MpiProcessGroup? reversed = world.Split(color: parity, key: -world.Rank))
        {
            int expectedRank = sameParity.Length - 1 - world.Rank / 2;
            Expect.True(reversed!.Rank == expectedRank, $"key -rank to reverse the order: {reversed} should be rank {expectedRank}");
            AllGather(reversed, subRank => sameParity[sameParity.Length - 1 - subRank]);
        }

        using (MpiProcessGroup? withoutZero = world.Split(color: world.Rank == 0 ? -1 : 7, key: 0))
        {
            Expect.True((withoutZero is null) == (world.Rank == 0), "null exactly for the rank with a negative color");
            if (withoutZero is not null)
            {
                Expect.True(withoutZero.Size == world.Size - 1 && withoutZero.Rank == world.Rank - 1, $"{withoutZero} to be rank {world.Rank - 1} of {world.Size - 1}");
                AllReduce(withoutZero);
            }
        }

        AllReduce(world);
    }

    /// <summary>Bad arguments throw before any MPI call, and the group still works afterwards.</summary>
    private static void Arguments()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        ArgumentException wrongLength = Expect.Throws<ArgumentException>(() => world.AllGather(new double[3], new double[3 * world.Size + 1]), "AllGather with a receive buffer one too long");
        Expect.True(wrongLength.ParamName == "receive", "the receive parameter named");
        foreach (int root in new[] { -1, world.Size })
        {
            ArgumentOutOfRangeException badRoot = Expect.Throws<ArgumentOutOfRangeException>(() => world.Broadcast(new double[2], root), $"Broadcast from root {root}");
            Expect.True(badRoot.ParamName == "root", "the root parameter named");
        }

        Expect.Throws<ArgumentOutOfRangeException>(() => world.Timeout = TimeSpan.Zero, "a zero timeout");
        AllReduce(world);
    }

    /// <summary>
    /// Rank 1 never calls the collective: rank 0's AllGather throws after the timeout (args[0] seconds), the group is
    /// then unusable, and rank 0 exits with the exception, which fails the job (rank 1 is killed by the launcher).
    /// </summary>
    private static void Timeout(string[] args)
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        world.Timeout = TimeSpan.FromSeconds(double.Parse(args[0], CultureInfo.InvariantCulture));
        Expect.True(world.Size == 2, "2 ranks");
        if (world.Rank == 1)
        {
            Thread.Sleep(TimeSpan.FromMinutes(2));
            throw new InvalidOperationException("rank 1 should have been killed when rank 0 failed");
        }

        var clock = Stopwatch.StartNew();
        MpiException timedOut = Expect.Throws<MpiException>(() => world.AllGather([1.0], new double[2]), "AllGather without rank 1");
        TimeSpan waited = clock.Elapsed;
        Expect.True(timedOut.TimedOut && timedOut.Call == "MPI_Iallgather" && timedOut.ErrorCode is null, $"a timeout of MPI_Iallgather: {timedOut.Message}");
        Expect.True(waited >= world.Timeout && waited < world.Timeout + TimeSpan.FromSeconds(2), $"to wait the timeout, waited {waited}");

        clock.Restart();
        MpiException unusable = Expect.Throws<MpiException>(world.Barrier, "Barrier after the timeout");
        Expect.True(clock.Elapsed < TimeSpan.FromMilliseconds(100) && unusable.Message.Contains("can no longer use MPI", StringComparison.Ordinal), $"an immediate refusal: {unusable.Message}");
        Say.Line($"{Label()} then: {unusable.Message}");
        Say.Line($"{Label()} checked timeout");
        throw timedOut;
    }

    /// <summary>Started without a launcher: this process alone, no native library, the same argument rules.</summary>
    private static void Single()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        Say.Line($"timeout {world.Timeout:c}");
        Expect.True(world.Rank == 0 && world.Size == 1 && !world.IsDistributed && world.Library == "none (single process)", $"a one-process world, got {world}");
        AllGather(world);
        AllReduce(world);
        Broadcast(world);
        world.Barrier();
        using (MpiProcessGroup? same = world.Split(3, 0)) Expect.True(same is { Rank: 0, Size: 1 }, "a one-process sub-group");
        Expect.True(world.Split(-1, 0) is null, "no group for a negative color");
        Expect.Throws<ArgumentException>(() => world.AllGather(new double[2], new double[3]), "AllGather with a wrong receive length");
        Expect.Throws<ArgumentOutOfRangeException>(() => world.Broadcast(new double[2], 1), "Broadcast from root 1 of 1");
        string maps = File.ReadAllText("/proc/self/maps");
        Expect.True(!maps.Contains("libmpi", StringComparison.Ordinal), "no MPI library loaded");
    }

    /// <summary>World fails to load the library (args[0] appears in the message with the package args[1]).</summary>
    private static void Library(string[] args)
    {
        DllNotFoundException missing = Expect.Throws<DllNotFoundException>(() => _ = MpiProcessGroup.World, "World without its library");
        Say.Line(missing.Message);
        Expect.True(missing.Message.Contains($"'{args[0]}'", StringComparison.Ordinal) && missing.Message.Contains($"apt-get install {args[1]}", StringComparison.Ordinal), "the file and the package named");
    }

    /// <summary>The library is not the launcher's (NORMSHARP_MPI_LIBRARY points to the other MPI).</summary>
    private static void WrongLibrary()
    {
        MpiException wrong = Expect.Throws<MpiException>(() => _ = MpiProcessGroup.World, "World with the other MPI's library");
        Say.Line(wrong.Message);
        Expect.True(wrong.Message.Contains("not the launcher's MPI", StringComparison.Ordinal), "the mismatch explained");
    }

    /// <summary>Microseconds per call, over args[0] calls (10,000 by default) after a warm-up.</summary>
    private static void Latency(string[] args)
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        int calls = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        double[] stats = new double[2 * 64 + 1], gathered = new double[world.Size * stats.Length], sums = new double[2 * 1024];
        Measure($"AllGather of {stats.Length} doubles", () => world.AllGather(stats, gathered));
        Measure($"AllReduceSum of {sums.Length} doubles", () => world.AllReduceSum(sums));
        Measure("Barrier", world.Barrier);

        void Measure(string what, Action call)
        {
            for (int i = 0; i < calls / 10; i++) call();
            world.Barrier();
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++) call();
            double microseconds = Stopwatch.GetElapsedTime(start).TotalMicroseconds / calls;
            Say.Line($"{Label()} {what}: {microseconds:F2} us per call ({world.Library}, {calls} calls)");
        }
    }

    /// <summary>
    /// Rank 1 receives fewer values than rank 0 broadcasts (an erroneous program that both MPIs detect): MPI's error code
    /// becomes an <see cref="MpiException"/> with the call, the rank and MPI's text, and rank 1 exits with it.
    /// </summary>
    private static void Mismatch()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        Expect.True(world.Size == 2, "2 ranks");
        world.Timeout = TimeSpan.FromSeconds(20);
        double[] values = new double[world.Rank == 0 ? 1000 : 10];
        if (world.Rank == 0)
        {
            world.Broadcast(values, root: 0);
            return;
        }

        MpiException error = Expect.Throws<MpiException>(() => world.Broadcast(values, root: 0), "a truncated broadcast");
        Expect.True(error is { Call: "MPI_Ibcast", ErrorCode: not null and not 0, TimedOut: false } && !string.IsNullOrWhiteSpace(error.ErrorString), $"an MPI error code: {error.Message}");
        Expect.True(error.Message.StartsWith("MPI_Ibcast (reported by MPI_Test) failed on rank 1 of 2", StringComparison.Ordinal) && error.Message.Contains(error.ErrorString!, StringComparison.Ordinal), $"the call, the rank and MPI's text in the message: {error.Message}");
        Say.Line($"{Label()} checked mismatch");
        throw error;
    }

    private static double[] Values(double identity, int length) =>
        Enumerable.Range(0, length).Select(i => identity * 1000 + i + 0.25).ToArray();
}
