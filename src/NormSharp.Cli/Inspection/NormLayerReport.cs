namespace NormSharp.Cli.Inspection;

/// <summary>Minimum, mean and maximum of a tensor's values (NaN ignored; null when there are none).</summary>
/// <param name="Min">Smallest value.</param>
/// <param name="Mean">Average value.</param>
/// <param name="Max">Largest value.</param>
public sealed record ValueSummary(double Min, double Mean, double Max);

/// <summary>One normalization layer found in a checkpoint, and what looks wrong with it.</summary>
/// <param name="Name">The key prefix, e.g. <c>layer1.0.bn1</c>.</param>
/// <param name="Channels">C (the length of its running statistics, else of its weight).</param>
/// <param name="DType">The file dtype of its running statistics (else of its weight).</param>
/// <param name="Counter">num_batches_tracked, when present.</param>
/// <param name="RunningMean">Summary of running_mean, when present.</param>
/// <param name="RunningVar">Summary of running_var, when present.</param>
/// <param name="Weight">Summary of weight, when present.</param>
/// <param name="Anomalies">What looks wrong, in words (empty when nothing does).</param>
public sealed record NormLayerReport(
    string Name, long Channels, string DType, long? Counter, ValueSummary? RunningMean, ValueSummary? RunningVar, ValueSummary? Weight,
    IReadOnlyList<string> Anomalies);
