using System.Globalization;

namespace NormSharp.Cli.Observation;

/// <summary>One step of an <c>explain --steps</c> script.</summary>
/// <param name="Text">The step as written.</param>
/// <param name="Action">What it does to the layer; forward steps return null and are run by <see cref="StepRunner"/>.</param>
/// <param name="ForwardBatch">For a forward: the batch size (null: the script's default).</param>
/// <param name="IsForward">Whether this step runs a forward.</param>
/// <param name="WithNaN">For a forward: the batch's first value is NaN (channel 0's statistics are not finite).</param>
public sealed record ScriptStep(string Text, Action<NormBase<double>>? Action, int? ForwardBatch, bool IsForward, bool WithNaN = false)
{
    /// <summary>The step language, for help texts and errors.</summary>
    public const string Grammar =
        "train | eval | forward | forward batch=K | forward nan | forward batch=K nan | set track=true|false | set affine=true|false | " +
        "set momentum=NUMBER|None | set eps=NUMBER | set freeze-stats=true|false | set freeze-params=true|false | " +
        "set small-batch=error|use-running | set empty-batch=pytorch|skip | set nonfinite=propagate|skip|throw | set virtual-batch=K|none | reset | reset-parameters";

    /// <summary>Parses a script of steps separated by commas or semicolons, such as
    /// <c>train,forward,set track=false,forward</c> or <c>set eps=0.5; forward batch=1</c>.</summary>
    /// <exception cref="FormatException">A step is malformed; the message names it and the grammar.</exception>
    public static IReadOnlyList<ScriptStep> ParseScript(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        string[] parts = script.Split([',', ';'], StringSplitOptions.TrimEntries);
        if (parts.All(p => p.Length == 0)) throw new FormatException($"--steps is empty; steps are: {Grammar}");
        int end = parts.Length;
        while (parts[end - 1].Length == 0) end--;   // a separator after the last step is harmless
        return parts[..end].Select(Parse).ToList();
    }

    private static ScriptStep Parse(string text)
    {
        string[] words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return words switch
        {
            ["train"] => new(text, l => l.Train(), null, false),
            ["eval"] => new(text, l => l.Eval(), null, false),
            ["forward", .. var options] => Forward(text, options),
            ["reset"] => new(text, l => l.ResetRunningStats(), null, false),
            ["reset-parameters"] => new(text, l => l.ResetParameters(), null, false),
            ["set", var arg] when TryAssignment(arg, out string name, out string value) => new(text, Setter(text, name, value), null, false),
            _ => throw Malformed(text),
        };
    }

    /// <summary>A forward step: <c>forward</c>, optionally <c>batch=K</c> and <c>nan</c> (in either order, once each).</summary>
    private static ScriptStep Forward(string text, string[] options)
    {
        int? batch = null;
        bool nan = false;
        foreach (string option in options)
        {
            if (option == "nan" && !nan) nan = true;
            else if (batch is null && TryAssignment(option, out string name, out string value) && name == "batch"
                     && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int size)) batch = size;
            else throw Malformed(text);
        }

        return new(text, null, batch, true, nan);
    }

    private static Action<NormBase<double>> Setter(string text, string name, string value)
    {
        switch (name)
        {
            case "track":
                bool track = ParseBool(text, value);
                return l => l.TrackRunningStats = track;
            case "affine":
                bool affine = ParseBool(text, value);
                return l => l.Affine = affine;
            case "momentum":
                if (!TryParseMomentum(value, out double? momentum)) throw Malformed(text);
                return l => l.Momentum = momentum;
            case "eps":
                double eps = ParseNumber(text, value);
                return l => l.Eps = eps;
            case "freeze-stats":
                bool freezeStatistics = ParseBool(text, value);
                return l => l.FreezeStatistics = freezeStatistics;
            case "freeze-params":
                bool freezeParameters = ParseBool(text, value);
                return l => l.FreezeParameters = freezeParameters;
            case "small-batch":
                SmallBatchPolicy small = value switch
                {
                    "error" => SmallBatchPolicy.Error,
                    "use-running" => SmallBatchPolicy.UseRunningStatistics,
                    _ => throw Malformed(text),
                };
                return l => l.SmallBatchPolicy = small;
            case "empty-batch":
                EmptyBatchPolicy empty = value switch
                {
                    "pytorch" => EmptyBatchPolicy.PyTorch,
                    "skip" => EmptyBatchPolicy.SkipUpdate,
                    _ => throw Malformed(text),
                };
                return l => l.EmptyBatchPolicy = empty;
            case "nonfinite":
                NonFinitePolicy nonFinite = value switch
                {
                    "propagate" => NonFinitePolicy.Propagate,
                    "skip" => NonFinitePolicy.SkipUpdate,
                    "throw" => NonFinitePolicy.Throw,
                    _ => throw Malformed(text),
                };
                return l => l.NonFinitePolicy = nonFinite;
            case "virtual-batch":
                int? size = value.Equals("none", StringComparison.OrdinalIgnoreCase) || value.Equals("null", StringComparison.OrdinalIgnoreCase) ? null
                    : int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int k) ? k
                    : throw Malformed(text);
                return l => l.VirtualBatchSize = size;
            default:
                throw Malformed(text);
        }
    }

    /// <summary>Parses a momentum value: a number, or PyTorch's <c>None</c> for the cumulative average (also written
    /// <c>none</c> or <c>null</c>, in any case).</summary>
    public static bool TryParseMomentum(string value, out double? momentum)
    {
        ArgumentNullException.ThrowIfNull(value);
        momentum = null;
        if (value.Equals("none", StringComparison.OrdinalIgnoreCase) || value.Equals("null", StringComparison.OrdinalIgnoreCase)) return true;
        bool ok = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number);
        momentum = number;
        return ok;
    }

    private static bool ParseBool(string text, string value) => value switch
    {
        "true" => true,
        "false" => false,
        _ => throw Malformed(text),
    };

    private static double ParseNumber(string text, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) ? number : throw Malformed(text);

    private static bool TryAssignment(string text, out string name, out string value)
    {
        int equals = text.IndexOf('=', StringComparison.Ordinal);
        name = equals > 0 ? text[..equals] : "";
        value = equals > 0 ? text[(equals + 1)..] : "";
        return equals > 0 && value.Length > 0;
    }

    private static FormatException Malformed(string text) =>
        new($"malformed step '{text}'; steps are: {Grammar}");
}
