namespace NormSharp.Cli.Plotting;

/// <summary>One row of the evaluation-batch-size table of the trained spirals network: test accuracy three ways when the
/// test set is forwarded in batches of <paramref name="BatchSize"/>.</summary>
/// <param name="BatchSize">Points per forward.</param>
/// <param name="RunningStatistics">Eval(): the running statistics normalize.</param>
/// <param name="RunningWithTrackingOff">Eval() with TrackRunningStats=false: still the running statistics (the buffers exist).</param>
/// <param name="BatchStatistics">Train() with TrackRunningStats=false: each batch's statistics; null where the forward
/// throws (a batch of one).</param>
/// <param name="BatchError">PyTorch's message for the batch statistics' failure, or null.</param>
public sealed record EvalBatchSizeRow(int BatchSize, double RunningStatistics, double RunningWithTrackingOff, double? BatchStatistics, string? BatchError);
