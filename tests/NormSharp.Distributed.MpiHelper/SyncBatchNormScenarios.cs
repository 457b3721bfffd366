using System.Globalization;
using NormSharp.Distributed.Tests.Scenarios;

namespace NormSharp.Distributed.MpiHelper;

/// <summary>SyncBatchNorm's scenarios under a real MPI launcher, one process per rank; each throws when a check fails.</summary>
internal static class SyncBatchNormScenarios
{
    public static readonly IReadOnlyDictionary<string, Action<string[]>> All = new Dictionary<string, Action<string[]>>
    {
        ["syncbn-equivalence"] = Equivalence,
        ["syncbn-disagree"] = _ => Disagree(),
        ["syncbn-rank-fails"] = _ => RankFails(),
        ["syncbn-rank-crashes"] = _ => RankCrashes(),
        ["syncbn-eval-while-training"] = _ => EvaluationWhileTraining(),
    };

    /// <summary>
    /// Args: FIRST_SEED COUNT [float|double|any] [OFFSET]. Runs the equivalence scenarios of those seeds on the MPI world
    /// (every rank draws the same ones) and prints the worst differences on rank 0.
    /// </summary>
    private static void Equivalence(string[] args)
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        int first = int.Parse(args[0], CultureInfo.InvariantCulture), count = int.Parse(args[1], CultureInfo.InvariantCulture);
        bool? useDouble = args.Length > 2 && args[2] != "any" ? args[2] == "double" : null;
        double? offset = args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : null;
        WorstErrors singles = new(), doubles = new();
        for (int seed = first; seed < first + count; seed++)
        {
            var scenario = new EquivalenceScenario(seed, world.Size, useDouble, offset);
            (scenario.UseDouble ? doubles : singles).Merge(scenario.Run(world));
        }

        Say.Line($"{Scenarios.Label()} worst in float: {singles}; in double: {doubles}");
    }

    /// <summary>Rank r's layer has 3 + r channels: every rank gets the same InvalidOperationException, nothing changes.</summary>
    private static void Disagree()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        int channels = 3 + world.Rank;
        var bn = new SyncBatchNorm<double>(channels);
        try
        {
            bn.Forward(Tensor.Create(new double[4 * channels], [4, channels]));
            throw new InvalidOperationException("the forward did not throw");
        }
        catch (InvalidOperationException error) when (error.Message.StartsWith("SyncBatchNorm: the processes' layers disagree on the channel count", StringComparison.Ordinal))
        {
            Say.Line($"{Scenarios.Label()} threw: {error.Message}");
        }

        if (bn.NumBatchesTracked != 0) throw new InvalidOperationException($"the counter moved to {bn.NumBatchesTracked}");
    }

    /// <summary>The last rank's input has the wrong channel count: it throws PyTorch's ArgumentException, every other rank
    /// an InvalidOperationException naming it; then all go on with a good step together.</summary>
    private static void RankFails()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        int last = world.Size - 1;
        var bn = new SyncBatchNorm<float>(3);
        try
        {
            bn.Forward(Tensor.Create(new float[4 * (world.Rank == last ? 5 : 3)], [4, world.Rank == last ? 5 : 3]));
            throw new InvalidOperationException("the forward did not throw");
        }
        catch (ArgumentException error) when (world.Rank == last && error.Message == "running_mean should contain 5 elements not 3")
        {
            Say.Line($"{Scenarios.Label()} threw: {error.Message}");
        }
        catch (InvalidOperationException error) when (world.Rank != last && error.Message.StartsWith($"SyncBatchNorm: process {last} of {world.Size} failed its forward", StringComparison.Ordinal))
        {
            Say.Line($"{Scenarios.Label()} threw: {error.Message}");
        }

        // The group is still usable: a good step together.
        Tensor<float> y = bn.Forward(Tensor.Create(Enumerable.Range(0, 12).Select(i => (float)(i + world.Rank)).ToArray(), [4, 3]));
        bn.Backward(y);
        if (bn.NumBatchesTracked != 1) throw new InvalidOperationException($"the counter is {bn.NumBatchesTracked}, not 1");
    }

    /// <summary>Rank 1 dies of an unhandled exception (on a thread of its own, which no catch can stop) before its
    /// forward; the others wait in theirs. The job must end at once with a non-zero exit and rank 1's message.</summary>
    private static void RankCrashes()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        var bn = new SyncBatchNorm<float>(3);
        if (world.Rank == 1)
        {
            var crash = new Thread(() => throw new InvalidOperationException("rank 1 crashed on purpose before its forward"));
            crash.Start();
            crash.Join();
        }

        bn.Forward(Tensor.Create(new float[12], [4, 3]));
    }

    /// <summary>Rank 0 trains, the others evaluate (which never communicates): rank 0 waits in its exchange until the
    /// group's timeout (NORMSHARP_MPI_TIMEOUT_SECONDS), then throws MpiException; its layer is unchanged.</summary>
    private static void EvaluationWhileTraining()
    {
        MpiProcessGroup world = MpiProcessGroup.World;
        var bn = new SyncBatchNorm<float>(3);
        if (world.Rank != 0) bn.Eval();
        try
        {
            bn.Forward(Tensor.Create(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), [4, 3]));
            if (world.Rank == 0) throw new InvalidOperationException("rank 0's training forward returned without its partners");
            Say.Line($"{Scenarios.Label()} evaluated alone");
        }
        catch (MpiException error) when (world.Rank == 0 && error.TimedOut)
        {
            if (bn.NumBatchesTracked != 0) throw new InvalidOperationException($"the counter moved to {bn.NumBatchesTracked}");
            Say.Line($"{Scenarios.Label()} timed out: {error.Message}");
        }
    }
}
