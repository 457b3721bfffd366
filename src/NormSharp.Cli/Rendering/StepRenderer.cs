using System.Globalization;
using NormSharp.Cli.Observation;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints an <c>explain --steps</c> run: the layer as it was built, then what each step changed.</summary>
public static class StepRenderer
{
    private const string Indent = "   ";

    /// <summary>The constructor call as PyTorch writes it: <c>BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True,
    /// track_running_stats=True)</c>.</summary>
    public static string Constructor(LayerConstruction layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return string.Create(CultureInfo.InvariantCulture,
            $"{layer.ModuleName}({layer.NumFeatures}, eps={NumberText.Of(layer.Eps)}, momentum={Momentum(layer.Momentum)}, " +
            $"affine={Python(layer.Affine)}, track_running_stats={Python(layer.TrackRunningStats)})");
    }

    /// <summary>Writes the construction, then one block per step: its settings changes, or for a forward the input,
    /// the statistics used and why, and the running statistics before and after.</summary>
    public static void Write(IAnsiConsole console, LayerConstruction layer, IReadOnlyList<StepRecord> records)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(records);
        int width = console.Profile.Width;
        void Line(string text, string first = Indent, string rest = Indent + "  ") =>
            console.WriteLines(TextWrap.Hanging(text, width, first, rest));
        void Labeled(string label, string value) => Line($"{label}: {value}", Indent, Indent + new string(' ', label.Length + 2));

        Line(Constructor(layer), "", "    ");
        Line("Built with these arguments (and in training mode, as every new layer); each step below shows what it changed.", "", "");

        var before = new Settings(true, layer.TrackRunningStats, layer.Momentum, layer.Eps, layer.Affine, layer.Policies);
        int index = 1;
        foreach (StepRecord record in records)
        {
            console.WriteLine();
            string number = NumberText.Of(index++) + ". ";
            Line(record.Step, number, new string(' ', number.Length));
            var after = new Settings(record.Training, record.TrackRunningStats, record.Momentum, record.Eps, record.Affine, record.Policies);
            bool forward = record.InputShape is not null;

            if (forward)
            {
                Labeled("input", $"[{string.Join(", ", record.InputShape!)}], layer in {Mode(after.Training)} mode with " +
                                 $"track_running_stats={Python(after.Track)}, momentum={Momentum(after.Momentum)}, eps={NumberText.Of(after.Eps)}" +
                                 string.Concat(after.Policies.NonDefaults().Select(p => ", " + p)));
            }

            foreach (string warning in record.Warnings) Labeled("warning", warning);

            if (record.Error is not null)
            {
                Labeled("error", record.Error);
                Line("(nothing changed)");
            }
            else if (record.NormalizedWith is not null)
            {
                Labeled("normalized with", $"{record.NormalizedWith} statistics");
                foreach (string reason in record.Reasons ?? []) Line(reason, Indent + "- ", Indent + "  ");
                foreach (string change in record.IneffectiveChanges ?? []) Line(change, Indent + "! ", Indent + "  ");
            }
            else
            {
                List<string> changes = before.ChangesTo(after);
                foreach (string change in changes) Line(change);
                if (changes.Count == 0 && !BuffersChanged(record)) Line("no change");
            }

            before = after;
            if (record.RunningMeanBefore is null && record.RunningMeanAfter is null)
            {
                if (forward) Labeled("running stats", "none (built without tracking)");
                continue;
            }

            if (!forward && !BuffersChanged(record)) continue;
            Labeled("running_mean", $"{Vector(record.RunningMeanBefore)} -> {Vector(record.RunningMeanAfter)}");
            Labeled("running_var", $"{Vector(record.RunningVarBefore)} -> {Vector(record.RunningVarAfter)}");
            Labeled("num_batches_tracked", $"{record.CounterBefore} -> {record.CounterAfter}");
        }
    }

    private static bool BuffersChanged(StepRecord record) =>
        !Same(record.RunningMeanBefore, record.RunningMeanAfter) || !Same(record.RunningVarBefore, record.RunningVarAfter)
        || record.CounterBefore != record.CounterAfter;

    private static bool Same(double[]? a, double[]? b) =>
        a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    private static string Mode(bool training) => training ? "train" : "eval";

    private static string Python(bool flag) => flag ? "True" : "False";

    private static string Momentum(double? momentum) => momentum is double m ? NumberText.Of(m) : "None";

    private static string Vector(double[]? values) =>
        values is null ? "none" : "[" + string.Join(", ", values.Select(v => v.ToString("0.####", CultureInfo.InvariantCulture))) + "]";

    /// <summary>The settings a step can change, to say which it did.</summary>
    private sealed record Settings(bool Training, bool Track, double? Momentum, double Eps, bool Affine, PolicySettings Policies)
    {
        public List<string> ChangesTo(Settings after)
        {
            var changes = new List<string>();
            if (Training != after.Training) changes.Add($"mode: {Mode(Training)} -> {Mode(after.Training)}");
            if (Track != after.Track) changes.Add($"track_running_stats: {Python(Track)} -> {Python(after.Track)}");
            if (!Nullable.Equals(Momentum, after.Momentum)) changes.Add($"momentum: {StepRenderer.Momentum(Momentum)} -> {StepRenderer.Momentum(after.Momentum)}");
            if (!Eps.Equals(after.Eps)) changes.Add($"eps: {NumberText.Of(Eps)} -> {NumberText.Of(after.Eps)}");
            if (Affine != after.Affine) changes.Add($"affine: {Python(Affine)} -> {Python(after.Affine)}");
            changes.AddRange(Policies.ChangesTo(after.Policies));
            return changes;
        }
    }
}
