using System.Globalization;
using NormSharp.Cli.Observation;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints what each step of an <c>explain --steps</c> script did.</summary>
public static class StepRenderer
{
    /// <summary>Writes one block per step.</summary>
    public static void Write(IAnsiConsole console, string header, IReadOnlyList<StepRecord> records)
    {
        console.WriteLine(header);
        int index = 1;
        foreach (StepRecord record in records)
        {
            console.WriteLine();
            string mode = record.Training ? "train" : "eval";
            string momentum = (record.Momentum is double m ? NumberText.Of(m) : null) ?? "none";
            console.WriteLine($"{index++}. {record.Step}    [mode {mode}, track {Lower(record.TrackRunningStats)}, momentum {momentum}, eps {NumberText.Of(record.Eps)}]");
            if (record.InputShape is not null)
                console.WriteLine($"   input [{string.Join(", ", record.InputShape)}]");
            if (record.Error is not null)
            {
                console.WriteLine($"   error: {record.Error}");
                console.WriteLine("   (nothing changed)");
            }
            else if (record.NormalizedWith is not null)
            {
                console.WriteLine($"   normalized with: {record.NormalizedWith} statistics");
                foreach (string reason in record.Reasons ?? []) console.WriteLine($"   - {reason}");
                foreach (string change in record.IneffectiveChanges ?? []) console.WriteLine($"   ! {change}");
            }

            if (record.RunningMeanBefore is null && record.RunningMeanAfter is null)
            {
                console.WriteLine("   running stats: none (built without tracking)");
                continue;
            }

            console.WriteLine($"   running_mean: {Vector(record.RunningMeanBefore)} -> {Vector(record.RunningMeanAfter)}");
            console.WriteLine($"   running_var:  {Vector(record.RunningVarBefore)} -> {Vector(record.RunningVarAfter)}");
            console.WriteLine($"   num_batches_tracked: {record.CounterBefore} -> {record.CounterAfter}");
        }
    }

    private static string Lower(bool value) => value ? "true" : "false";

    private static string Vector(double[]? values) =>
        values is null ? "none" : "[" + string.Join(", ", values.Select(v => v.ToString("0.####", CultureInfo.InvariantCulture))) + "]";
}
