using NormSharp.Cli.Inspection;

namespace NormSharp.Cli.Plotting;

/// <summary>One normalization layer of a checkpoint as <c>plot checkpoint</c> draws it: the inspect command's report (its
/// anomalies) and the per-channel values of its running statistics and weight (null where the checkpoint has none).</summary>
/// <param name="Report">What <see cref="CheckpointInspection.Inspect(StateDict)"/> says about the layer.</param>
/// <param name="RunningMean">running_mean's values.</param>
/// <param name="RunningVar">running_var's values.</param>
/// <param name="Weight">weight's values.</param>
public sealed record CheckpointLayerValues(NormLayerReport Report, double[]? RunningMean, double[]? RunningVar, double[]? Weight)
{
    /// <summary>The three tensors drawn, with their names, in the plot's order.</summary>
    public IEnumerable<(string Name, double[]? Values)> Tensors => [("running_mean", RunningMean), ("running_var", RunningVar), ("weight", Weight)];

    /// <summary>The layers of <paramref name="tensors"/>, in the order <see cref="CheckpointInspection"/> lists them.</summary>
    public static IReadOnlyList<CheckpointLayerValues> From(StateDict tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        return CheckpointInspection.Inspect(tensors)
                                   .Select(r => new CheckpointLayerValues(r, Values(tensors, r.Name, "running_mean"), Values(tensors, r.Name, "running_var"), Values(tensors, r.Name, "weight")))
                                   .ToList();
    }

    /// <summary>Whether the value of <paramref name="tensor"/> is one that inspect flags: running_var not above 0 or not
    /// finite, running_mean not finite, |weight| below <see cref="CheckpointInspection.NearZeroWeight"/>.</summary>
    public static bool IsFlagged(string tensor, double value) => tensor switch
    {
        "running_var" => !(value > 0) || !double.IsFinite(value),
        "running_mean" => !double.IsFinite(value),
        "weight" => Math.Abs(value) < CheckpointInspection.NearZeroWeight,
        _ => false,
    };

    private static double[]? Values(StateDict tensors, string prefix, string suffix) =>
        tensors.TryGetValue(prefix.Length == 0 ? suffix : prefix + "." + suffix, out StateTensor? tensor) && !tensor.IsUninitialized ? tensor.ToDoubles() : null;
}
