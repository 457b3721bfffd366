using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace NormSharp.Tests.Properties;

/// <summary>
/// "A call that throws changes nothing", checked with twins: two identical layers (or argument buffers) with the same
/// history, a random hostile call that must throw on one of them, then the same calls on both; every observable, and
/// the hidden state that Backward reads, must stay equal bit for bit.
/// </summary>
/// <remarks>
/// Random per run; the seed is printed. Reproduce a run with NORMSHARP_TWIN_SEED=&lt;seed&gt;, one trial of it with
/// NORMSHARP_TWIN_TRIAL=&lt;index&gt; as well; NORMSHARP_TWIN_TRIALS sets the number of trials.
/// </remarks>
public class FailedCallTwinTests(ITestOutputHelper output)
{
    private const int DefaultLayerTrials = 10_000, DefaultFunctionalTrials = 10_000;

    private sealed class Tally
    {
        public int Trials, Threw, NotThrown, Failed, SharedSucceeded, SharedThrew;
        public readonly SortedDictionary<string, (int Drawn, int Threw)> Kinds = new(StringComparer.Ordinal);
        public readonly Dictionary<string, string> Examples = new(StringComparer.Ordinal);
        public readonly HashSet<string> Classes = [], Combinations = [];
        public int HostileInTraining, HostileInEvaluation;
        public readonly List<string> Failures = [], Skipped = [];

        public void Add(int trial, TwinResult result)
        {
            Trials++;
            Kinds.TryGetValue(result.Kind, out var kind);
            Kinds[result.Kind] = (kind.Drawn + 1, kind.Threw + (result.Verdict == TwinVerdict.NotThrown ? 0 : 1));
            if (result.Message.Length > 0) Examples.TryAdd(result.Kind, result.Message.Length > 110 ? result.Message[..110] + "..." : result.Message);
            switch (result.Verdict)
            {
                case TwinVerdict.Passed:
                    Threw++;
                    break;
                case TwinVerdict.NotThrown:
                    NotThrown++;
                    if (Skipped.Count < 5) Skipped.Add($"trial {trial} [{result.Kind}]: {result.Report}");
                    break;
                default:
                    Threw++;
                    Failed++;
                    if (Failures.Count < 5) Failures.Add($"trial {trial} [{result.Kind}]: {result.Report}");
                    break;
            }
        }
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : fallback;

    /// <summary>The trial's own generator: a fixed mix of the run's seed and the trial index (HashCode.Combine is randomized
    /// per process, so it would not reproduce).</summary>
    private static Random TrialRandom(int seed, int trial)
    {
        ulong z = unchecked(((ulong)(uint)seed << 32 | (uint)trial) + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return new Random((int)(z ^ (z >> 31)));
    }

    private void Print(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }

    private void Finish(string name, int seed, Tally tally, Stopwatch clock, string extra)
    {
        Print($"{name}: {tally.Trials} trials, {tally.Threw} hostile calls threw, {tally.Failed} differences " +
              $"({tally.NotThrown} did not throw and were skipped; {extra}; {clock.Elapsed.TotalSeconds:F1} s, seed {seed})");
        foreach (var (kind, (drawn, threw)) in tally.Kinds)
            Print($"  {kind}: {drawn} drawn, {threw} threw (e.g. {tally.Examples.GetValueOrDefault(kind, "-")})");
        foreach (string skipped in tally.Skipped) Print($"  skipped (did not throw) {skipped}");
        foreach (string failure in tally.Failures) Print($"  FAILED {failure}");

        string reproduce = $"reproduce with NORMSHARP_TWIN_SEED={seed} (and NORMSHARP_TWIN_TRIAL=<trial> for one trial)";
        Assert.True(tally.Failed == 0, $"{tally.Failed} of {tally.Trials} trials found a difference; {reproduce}. First ones:\n{string.Join("\n\n", tally.Failures)}");
        Assert.True(tally.Threw >= 0.9 * tally.Trials,
                    $"only {tally.Threw} of {tally.Trials} hostile calls threw; {reproduce}. Examples:\n{string.Join("\n\n", tally.Skipped)}");
    }

    private static (int Seed, IEnumerable<int> Trials) Plan(int defaultTrials)
    {
        int seed = Setting("NORMSHARP_TWIN_SEED", Random.Shared.Next());
        int single = Setting("NORMSHARP_TWIN_TRIAL", -1);
        return (seed, single >= 0 ? [single] : Enumerable.Range(0, Setting("NORMSHARP_TWIN_TRIALS", defaultTrials)));
    }

    [Fact]
    public void AFailedCall_ChangesNothing_TwinLayersStayBitIdentical()
    {
        var (seed, trials) = Plan(DefaultLayerTrials);
        var tally = new Tally();
        var clock = Stopwatch.StartNew();
        foreach (int trial in trials)
        {
            Random rng = TrialRandom(seed, trial);
            TwinConfig config = TwinConfig.Draw(rng);
            tally.Classes.Add(config.ClassName);
            TwinResult result = config.Double ? Run(new LayerTwinTrial<double>(rng, config), tally) : Run(new LayerTwinTrial<float>(rng, config), tally);
            tally.Combinations.Add($"{config.ClassName.Replace("<float>", "", StringComparison.Ordinal)} affine {config.Affine} track {config.Track} momentum {(config.Momentum is null ? "null" : "number")}");
            tally.Add(trial, result);
        }

        Finish("twin test", seed, tally, clock,
               $"{tally.Classes.Count} layer classes, {tally.Combinations.Count} class × type × affine × tracking × momentum combinations, " +
               $"hostile calls in training {tally.HostileInTraining} / evaluation {tally.HostileInEvaluation}; " +
               $"shared calls: {tally.SharedSucceeded} succeeded, {tally.SharedThrew} threw on both twins");
        if (tally.Trials >= 5000)
        {
            Assert.Equal(36, tally.Classes.Count); // 12 classes × (float, double, float without <T>)
            Assert.Equal(12 * 2 * 2 * 2 * 2, tally.Combinations.Count); // × float/double × affine × tracking × momentum number/null
            Assert.True(tally.HostileInEvaluation > tally.Trials / 10, "hostile calls in evaluation mode too");
            Assert.True(tally.SharedSucceeded > 2 * tally.SharedThrew, "most shared calls should be valid");
        }
    }

    private static TwinResult Run<T>(LayerTwinTrial<T> twin, Tally tally) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        TwinResult result = twin.Run();
        tally.SharedSucceeded += twin.SharedSucceeded;
        tally.SharedThrew += twin.SharedThrew;
        if (twin.HostileInTraining) tally.HostileInTraining++;
        else tally.HostileInEvaluation++;
        return result;
    }

    [Fact]
    public void AFailedFunctionalCall_LeavesRunningStatisticsAndDestinationUntouched()
    {
        var (seed, trials) = Plan(DefaultFunctionalTrials);
        var tally = new Tally();
        int validSucceeded = 0;
        var clock = Stopwatch.StartNew();
        foreach (int trial in trials)
        {
            Random rng = TrialRandom(seed, trial);
            TwinResult result;
            bool succeeded;
            if (rng.Next(2) == 0)
            {
                var twin = new FunctionalTwinTrial<double>(rng);
                result = twin.Run();
                succeeded = twin.ValidSucceeded;
            }
            else
            {
                var twin = new FunctionalTwinTrial<float>(rng);
                result = twin.Run();
                succeeded = twin.ValidSucceeded;
            }

            if (succeeded) validSucceeded++;
            tally.Add(trial, result);
        }

        Finish("functional twin test", seed, tally, clock, $"the valid call after it succeeded in {validSucceeded}");
        if (tally.Trials >= 1000) Assert.True(validSucceeded > 0.9 * tally.Threw, "most valid calls after a failed one should succeed");
    }
}
