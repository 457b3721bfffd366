using NormSharp.Distributed.Tests.Scenarios;
using NormSharp.Distributed.Tests.Support;
using Xunit.Abstractions;

namespace NormSharp.Distributed.Tests.Synchronization;

/// <summary>
/// SyncBatchNorm's invariant over random scenarios, each rank a thread of this process (<see cref="ThreadProcessGroup"/>):
/// outputs, running statistics, counter and dx rows equal one BatchNorm's on the whole batch, dweight/dbias summed over
/// the ranks equal its dweight/dbias. The MPI tests run the same scenarios with one process per rank.
/// </summary>
public sealed class InProcessEquivalenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryRank_EqualsOneBatchNormOnTheWholeBatch(int processes)
    {
        WorstErrors singles = new(), doubles = new();
        for (int seed = 0; seed < 150; seed++)
        {
            var scenario = new EquivalenceScenario(seed, processes);
            (scenario.UseDouble ? doubles : singles).Merge(RunOnThreads(scenario));
        }

        output.WriteLine($"{processes} processes, 150 scenarios: worst in float {singles}; in double {doubles}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void InputsWithMean1e4AndStd1_EqualOneBatchNormOnTheWholeBatch(bool useDouble)
    {
        var worst = new WorstErrors();
        for (int seed = 1000; seed < 1060; seed++) worst.Merge(RunOnThreads(new EquivalenceScenario(seed, 2 + seed % 2, useDouble, offset: 1e4)));
        output.WriteLine($"{(useDouble ? "double" : "float")}, mean 1e4: worst {worst}");
    }

    internal static WorstErrors RunOnThreads(EquivalenceScenario scenario)
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(scenario.Processes, TimeSpan.FromSeconds(20));
        var results = ThreadProcessGroup.Run(groups, scenario.Run);
        string[] errors = [.. results.Select((r, rank) => r.Error is null ? null : $"rank {rank}: {r.Error}").OfType<string>()];
        if (errors.Length > 0) throw new Xunit.Sdk.XunitException($"{scenario}:\n{string.Join("\n", errors)}");
        var worst = new WorstErrors();
        foreach ((WorstErrors? result, _) in results) worst.Merge(result!);

        return worst;
    }
}
