namespace NormSharp;

/// <summary>Why the statistics that normalize a forward are the ones they are.</summary>
internal enum NormalizeReason
{
    /// <summary>Training mode: the input's own statistics.</summary>
    Training,

    /// <summary>Evaluation mode, and the layer has no running buffers (BatchNorm) or does not track now (InstanceNorm).</summary>
    EvaluationWithoutRunningStatistics,

    /// <summary>Evaluation mode with the running statistics.</summary>
    EvaluationWithRunningStatistics,

    /// <summary>A statistics policy (FreezeStatistics, or SmallBatchPolicy.UseRunningStatistics) chose the running statistics.</summary>
    Policy,
}

/// <summary>What happens to num_batches_tracked in a forward, and why.</summary>
internal enum CounterChange
{
    /// <summary>Training with tracking: it goes up by one (unless the forward throws).</summary>
    Increments,

    /// <summary>The layer was built without running statistics: there is no counter.</summary>
    NoCounter,

    /// <summary>Evaluation mode: it does not move.</summary>
    Evaluation,

    /// <summary>TrackRunningStats is false now: it does not move.</summary>
    TrackingOff,

    /// <summary>InstanceNorm never uses it.</summary>
    NeverUsed,

    /// <summary>Training with tracking, but a statistics policy (frozen statistics, the small-batch or the empty-batch policy)
    /// holds it where it is.</summary>
    HeldByPolicy,
}

/// <summary>
/// The decision of one forward, made once by the module's rules (PyTorch's <c>_BatchNorm.forward</c> or
/// <c>_InstanceNorm.forward</c> with every check) and read by every later stage: the forward executes it, <c>Explain</c>
/// renders it into a <see cref="ForwardPlan"/> in words. Holds no text but PyTorch's error and warning, so deciding
/// allocates nothing unless the forward is going to fail.
/// </summary>
/// <param name="NormalizeWith">The statistics that normalize.</param>
/// <param name="WhyNormalize">Why those.</param>
/// <param name="PassesRunningStatistics">Whether the buffers are handed to the functional op.</param>
/// <param name="Update">What happens to the buffers (as if the forward succeeded).</param>
/// <param name="Factor">The factor handed to the functional op.</param>
/// <param name="Counter">What happens to the counter (as if the forward succeeded).</param>
/// <param name="CounterAfter">num_batches_tracked after the forward (null without a counter).</param>
/// <param name="Unbatched">InstanceNorm: the input has no batch dimension and is read as a batch of one.</param>
/// <param name="Warning">The warning the forward raises (PyTorch's UserWarning), or null.</param>
/// <param name="Error">The error the forward throws (PyTorch's message), or null.</param>
/// <param name="Synchronizes">The statistics are combined with other processes' (a batch spread over several processes).</param>
internal readonly record struct ForwardDecision(
    StatisticsSource NormalizeWith, NormalizeReason WhyNormalize, bool PassesRunningStatistics, RunningUpdate Update, double Factor,
    CounterChange Counter, long? CounterAfter, bool Unbatched, string? Warning, string? Error, bool Synchronizes = false)
{
    /// <summary>FreezeStatistics applied: the running statistics normalize and nothing is updated.</summary>
    public bool StatisticsFrozen { get; init; }

    /// <summary>SmallBatchPolicy.UseRunningStatistics applied: one value per statistic, so the running statistics normalize.</summary>
    public bool SmallBatch { get; init; }

    /// <summary>EmptyBatchPolicy.SkipUpdate applied: the input has no values and nothing changes.</summary>
    public bool EmptySkipped { get; init; }

    /// <summary>The non-finite guard the forward runs after computing input statistics (Propagate: none).</summary>
    public NonFinitePolicy NonFiniteGuard { get; init; }

    /// <summary>FreezeParameters: the backward of this forward adds no parameter gradients.</summary>
    public bool ParametersFrozen { get; init; }

    /// <summary>Whether the input's own statistics normalize (PyTorch's <c>bn_training</c> / <c>use_input_stats</c>).</summary>
    public bool UsesInputStatistics => NormalizeWith != StatisticsSource.Running;

    /// <summary>Whether the buffers change in this forward.</summary>
    public bool UpdatesRunningStatistics => Error is null && Update is RunningUpdate.Blend or RunningUpdate.BecomesNaN;

    /// <summary>Whether the counter moves in this forward.</summary>
    public bool IncrementsCounter => Error is null && Counter == CounterChange.Increments;
}
