using System.CommandLine;
using System.Globalization;
using NormSharp.Cli.Observation;
using NormSharp.Cli.Rendering;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>explain</c>: the seed's summary table, observed live; or, with <c>--steps</c>, what each step of a
/// script does to one layer.
/// </summary>
/// <remarks>eps and momentum accept any number, as PyTorch's constructors do: NaN or an overflowing momentum runs, and the
/// running statistics show what it does (NaN, infinities; JSON writes them as strings). Sizes are checked before anything is
/// allocated: each forward observes at most <see cref="StepRunner.MaxObservedValues"/> values.</remarks>
public static class ExplainCommand
{
    /// <summary>Builds the command; output goes to <paramref name="output"/>, usage errors to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var module = new Option<string>("--module")
        {
            Description = "The layer, in any case (BatchNorm2d or batchnorm2d): " + string.Join(", ", ModuleKind.All.Select(k => k.Name)) + ".",
            DefaultValueFactory = _ => "batchnorm1d",
        };
        module.CompletionSources.Add([.. ModuleKind.All.Select(k => k.Name)]);
        module.Validators.Add(result =>
        {
            string? name = result.GetValueOrDefault<string>();
            if (name is not null && ModuleKind.Find(name) is null)
                result.AddError($"unknown module '{TerminalText.OneLine(name)}' for --module; expected one of: {string.Join(", ", ModuleKind.All.Select(k => k.Name))} (any case)");
        });
        var json = new Option<bool>("--json") { Description = $"Print JSON instead of tables ({JsonOutput.NonFiniteNumbers})." };
        var steps = new Option<string?>("--steps")
        {
            Description = "Run a script on one layer instead of printing the table, steps separated by commas or semicolons. Steps: " + ScriptStep.Grammar,
        };
        var affine = new Option<bool>("--affine") { Description = "With --steps: affine at construction.", DefaultValueFactory = _ => true };
        var track = new Option<bool>("--track") { Description = "With --steps: trackRunningStats at construction.", DefaultValueFactory = _ => true };
        var momentum = new Option<string>("--momentum")
        {
            Description = "With --steps: a number (any, as PyTorch accepts: nan runs too), or None (also none, null) for the cumulative average.",
            DefaultValueFactory = _ => "0.1",
        };
        var eps = new Option<double>("--eps") { Description = "With --steps: eps (any number, as PyTorch accepts).", DefaultValueFactory = _ => 1e-5 };
        string sizeLimit = string.Create(CultureInfo.InvariantCulture, $"each forward observes at most {StepRunner.MaxObservedValues} values");
        var features = new Option<int>("--features") { Description = $"With --steps: number of channels C, at least 1 ({sizeLimit}).", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = $"With --steps: default batch size N of a forward, at least 0 ({sizeLimit}).", DefaultValueFactory = _ => 4 };
        var seed = new Option<int>("--seed") { Description = "With --steps: seed of the random batches.", DefaultValueFactory = _ => 1 };

        var command = new Command("explain", "Show what a BatchNorm or InstanceNorm layer does in every combination of mode and flags, observed on real layers.")
        {
            module, json, steps, affine, track, momentum, eps, features, batch, seed,
        };
        Option[] stepOnly = [affine, track, momentum, eps, features, batch, seed];

        command.SetAction(parse =>
        {
            ModuleKind kind = ModuleKind.Named(parse.GetValue(module)!);
            string? script = parse.GetValue(steps);
            int? width = OutputWidth.From(parse);
            if (script is null)
            {
                Option? misplaced = stepOnly.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
                if (misplaced is not null) return CliError.Write(error, $"{misplaced.Name} applies only with --steps.", ExitCodes.Usage);

                ISummaryTable table = SummaryTables.For(kind);
                IReadOnlyList<SummaryRow> rows = table.Rows();
                if (parse.GetValue(json)) output.WriteLine(JsonOutput.Serialize(rows));
                else ConsoleFactory.Render(output, width, console => SummaryRenderer.Write(console, DisplayName(kind), rows, table.AttributeRows(), table.SingleValueHeader));
                return ExitCodes.Success;
            }

            IReadOnlyList<ScriptStep> parsed;
            double? momentumValue;
            int channels = parse.GetValue(features), batchSize = parse.GetValue(batch);
            try
            {
                parsed = ScriptStep.ParseScript(script);
                if (!ScriptStep.TryParseMomentum(parse.GetValue(momentum)!, out momentumValue))
                    throw new FormatException($"--momentum must be a number or None, not '{parse.GetValue(momentum)}'.");
                if (channels < 1) throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"--features must be at least 1, not {channels}."));
                if (batchSize < 0) throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"--batch must be at least 0, not {batchSize}."));
                StepRunner.CheckSizes(kind, channels, batchSize, parsed);
            }
            catch (FormatException e)
            {
                return CliError.Write(error, e.Message, ExitCodes.Usage);
            }

            // Recorded before the script runs: the header shows what the layer was built with, not what the steps made of it.
            var construction = new LayerConstruction(DisplayName(kind), channels, parse.GetValue(eps), momentumValue, parse.GetValue(affine), parse.GetValue(track));
            NormBase<double> layer = kind.Create(channels, construction.Eps, construction.Momentum, construction.Affine, construction.TrackRunningStats);
            IReadOnlyList<StepRecord> records = StepRunner.Run(layer, kind, parsed, batchSize, parse.GetValue(seed));
            if (parse.GetValue(json)) output.WriteLine(JsonOutput.Serialize(records));
            else ConsoleFactory.Render(output, width, console => StepRenderer.Write(console, construction, records));

            return ExitCodes.Success;
        });
        return command;
    }

    private static string DisplayName(ModuleKind kind) => kind.Create(1, 1e-5, 0.1, false, false).ModuleName;
}
