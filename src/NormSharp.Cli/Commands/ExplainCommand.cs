using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using NormSharp.Cli.Observation;
using NormSharp.Cli.Rendering;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>explain</c>: the seed's summary table, observed live; or, with <c>--steps</c>, what each step of a
/// script does to one layer.
/// </summary>
public static class ExplainCommand
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Builds the command; output goes to <paramref name="output"/>, usage errors to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var module = new Option<string>("--module")
        {
            Description = "The layer: " + string.Join(", ", ModuleKind.All.Select(k => k.Name)) + ".",
            DefaultValueFactory = _ => "batchnorm1d",
        };
        module.AcceptOnlyFromAmong([.. ModuleKind.All.Select(k => k.Name)]);
        var json = new Option<bool>("--json") { Description = "Print JSON instead of tables." };
        var steps = new Option<string?>("--steps")
        {
            Description = "Run a comma-separated script on one layer instead of printing the table. Steps: " + ScriptStep.Grammar,
        };
        var affine = new Option<bool>("--affine") { Description = "With --steps: affine at construction.", DefaultValueFactory = _ => true };
        var track = new Option<bool>("--track") { Description = "With --steps: trackRunningStats at construction.", DefaultValueFactory = _ => true };
        var momentum = new Option<string>("--momentum") { Description = "With --steps: a number, or none for the cumulative average.", DefaultValueFactory = _ => "0.1" };
        var eps = new Option<double>("--eps") { Description = "With --steps: eps.", DefaultValueFactory = _ => 1e-5 };
        var features = new Option<int>("--features") { Description = "With --steps: number of channels C.", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "With --steps: default batch size N of a forward.", DefaultValueFactory = _ => 4 };
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
            if (script is null)
            {
                Option? misplaced = stepOnly.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
                if (misplaced is not null)
                {
                    error.WriteLine($"{misplaced.Name} applies only with --steps.");
                    return ExitCodes.Usage;
                }

                ISummaryTable table = SummaryTables.For(kind);
                IReadOnlyList<SummaryRow> rows = table.Rows();
                if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(rows, Json));
                else ConsoleFactory.Render(output, console => SummaryRenderer.Write(console, DisplayName(kind), rows, table.AttributeRows(), table.SingleValueHeader));
                return ExitCodes.Success;
            }

            IReadOnlyList<ScriptStep> parsed;
            double? momentumValue;
            try
            {
                parsed = ScriptStep.ParseScript(script);
                if (!ScriptStep.TryParseMomentum(parse.GetValue(momentum)!, out momentumValue))
                    throw new FormatException($"--momentum must be a number or none, not '{parse.GetValue(momentum)}'.");
                if (parse.GetValue(features) < 1 || parse.GetValue(batch) < 0) throw new FormatException("--features must be at least 1 and --batch at least 0.");
            }
            catch (FormatException e)
            {
                error.WriteLine(e.Message);
                return ExitCodes.Usage;
            }

            NormBase<double> layer = kind.Create(parse.GetValue(features), parse.GetValue(eps), momentumValue,
                                                  parse.GetValue(affine), parse.GetValue(track));
            IReadOnlyList<StepRecord> records = StepRunner.Run(layer, kind, parsed, parse.GetValue(batch), parse.GetValue(seed));
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(records, Json));
            }
            else
            {
                string header = string.Create(CultureInfo.InvariantCulture,
                    $"{DisplayName(kind)}({layer.NumFeatures}, eps={NumberText.Of(layer.Eps)}, momentum={(momentumValue is double m ? NumberText.Of(m) : "None")}, " +
                    $"affine={parse.GetValue(affine)}, track_running_stats={parse.GetValue(track)})");
                ConsoleFactory.Render(output, console => StepRenderer.Write(console, header, records));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static string DisplayName(ModuleKind kind) => kind.Create(1, 1e-5, 0.1, false, false).ModuleName;
}
