using System.CommandLine;
using System.Globalization;
using NormSharp.Cli.Plotting;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>plot running-stats</c>: one <see cref="BatchNorm1d"/> per <c>--momentum</c> fed the same batches of a population
/// whose mean and variance shift halfway (<see cref="ShiftingPopulation"/>); their running_mean and running_var per step,
/// the batch statistics and the population's values (<see cref="RunningStatsChart"/>).
/// </summary>
public static class PlotRunningStatsCommand
{
    /// <summary>The most steps accepted.</summary>
    public const int MaximumSteps = 100_000;

    /// <summary>The largest batch accepted.</summary>
    public const int MaximumBatch = 100_000;

    /// <summary>The most values (steps x batch) one plot draws.</summary>
    public const long MaximumValues = 10_000_000;

    /// <summary>Builds the command; errors go to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var momenta = new Option<double?[]>("--momentum")
        {
            Description = "The layers' momenta, one line each: numbers from 0 to 1, or None (the cumulative average). Default: 0.1 0.01 None.",
            AllowMultipleArgumentsPerToken = true,
            HelpName = "M",
            DefaultValueFactory = _ => [0.1, 0.01, null],
            CustomParser = ParseMomenta,
        };
        var steps = WholeNumberOption.Create("--steps", 200, 2, MaximumSteps, "Batches fed to the layers; the population shifts after half of them");
        var batch = WholeNumberOption.Create("--batch", 16, 2, MaximumBatch, "Values per batch");
        var seed = new Option<int>("--seed") { Description = "Seed of the batches (default 0).", DefaultValueFactory = _ => 0 };
        var outputs = new PlotOutputOptions();
        var command = new Command("running-stats", "Plot running_mean and running_var per step for several momenta (EMA and None) across a shift of the data.")
        {
            momenta, steps, batch, seed,
        };
        outputs.AddTo(command);
        command.SetAction(parse =>
        {
            PlotRequest? request = outputs.Resolve(parse, out string? usage);
            if (request is null) return CliError.Write(error, usage!, ExitCodes.Usage);
            double?[] chosen = parse.GetValue(momenta) ?? [];
            if ((long)parse.GetValue(steps) * parse.GetValue(batch) > MaximumValues)
                return CliError.Write(error, string.Create(CultureInfo.InvariantCulture, $"--steps x --batch must be at most {MaximumValues:N0} values."), ExitCodes.Usage);
            var population = new ShiftingPopulation(parse.GetValue(steps), parse.GetValue(batch), parse.GetValue(seed));
            var experiment = RunningStatsExperiment.Run(population, chosen);
            return PlotCommand.Write(request, RunningStatsChart.Create(experiment), experiment.ToCsv(), output, error);
        });
        return command;
    }

    private static double?[] ParseMomenta(System.CommandLine.Parsing.ArgumentResult result)
    {
        var values = new List<double?>();
        foreach (string text in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (text.Equals("none", StringComparison.OrdinalIgnoreCase) || text.Equals("null", StringComparison.OrdinalIgnoreCase)) values.Add(null);
            else if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double m) && m is >= 0 and <= 1) values.Add(m);
            else
            {
                result.AddError($"--momentum takes numbers from 0 to 1 or None, not '{text}'");
                return [];
            }
        }

        if (values.Count == 0) result.AddError("--momentum needs at least one value (a number from 0 to 1, or None)");
        return [.. values];
    }
}
