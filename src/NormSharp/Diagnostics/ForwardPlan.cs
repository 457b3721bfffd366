using System.Text;

namespace NormSharp;

/// <summary>Which statistics normalize the input.</summary>
public enum StatisticsSource
{
    /// <summary>The batch's own mean and biased variance.</summary>
    Batch,

    /// <summary>The stored running_mean and running_var.</summary>
    Running,

    /// <summary>Each (sample, channel) plane's own mean and biased variance (InstanceNorm).</summary>
    Instance,
}

/// <summary>How the running statistics are averaged when they are updated.</summary>
public enum RunningAverage
{
    /// <summary>No update happens in this forward.</summary>
    None,

    /// <summary>Exponential moving average with factor = momentum.</summary>
    Exponential,

    /// <summary>Cumulative average (momentum null) with factor = 1 / num_batches_tracked.</summary>
    Cumulative,
}

/// <summary>
/// What the next <c>Forward</c> of a module will do for an input shape, and why: the decision of
/// PyTorch's <c>_BatchNorm.forward</c> (or <c>_InstanceNorm.forward</c>) as data. <c>Forward</c> executes exactly this plan (it calls
/// the same method that <c>Explain</c> returns), so the explanation cannot drift from the behaviour.
/// </summary>
public sealed record ForwardPlan
{
    /// <summary>The module's PyTorch class name, e.g. <c>BatchNorm2d</c>.</summary>
    public required string Module { get; init; }

    /// <summary>The input shape the plan is for.</summary>
    public required IReadOnlyList<long> InputShape { get; init; }

    /// <summary>The module's <c>Training</c> flag now.</summary>
    public required bool Training { get; init; }

    /// <summary>The module's <c>TrackRunningStats</c> flag now.</summary>
    public required bool TrackRunningStats { get; init; }

    /// <summary>Whether the running buffers exist (decided at construction).</summary>
    public required bool HasRunningStatistics { get; init; }

    /// <summary>Whether weight and bias exist (decided at construction).</summary>
    public required bool HasAffineParameters { get; init; }

    /// <summary>Which statistics normalize the output (PyTorch's <c>bn_training</c>: true means batch).</summary>
    public required StatisticsSource NormalizeWith { get; init; }

    /// <summary>Whether the stored buffers are handed to the functional step.</summary>
    public required bool PassesRunningStatistics { get; init; }

    /// <summary>Whether running_mean / running_var change in this forward.</summary>
    public required bool UpdatesRunningStatistics { get; init; }

    /// <summary>How the running statistics are averaged (None when they are not updated).</summary>
    public required RunningAverage Averaging { get; init; }

    /// <summary>The factor handed to the functional step (momentum, 1/num_batches_tracked, or 0).</summary>
    public required double Factor { get; init; }

    /// <summary>Whether num_batches_tracked is incremented.</summary>
    public required bool IncrementsCounter { get; init; }

    /// <summary>num_batches_tracked after the forward (null when the buffer does not exist).</summary>
    public required long? CounterAfter { get; init; }

    /// <summary>Whether an input with one value per channel is rejected (batch statistics are used).</summary>
    public required bool SingleValueCheckApplies { get; init; }

    /// <summary>The error the forward will throw for this shape (PyTorch's message), or null.</summary>
    public required string? Error { get; init; }

    /// <summary>The warning the forward will raise through <see cref="NormWarnings"/> (PyTorch's UserWarning), or null.</summary>
    public string? Warning { get; init; }

    /// <summary>Whether the forward combines its statistics with other processes' (SyncBatchNorm in training with more
    /// than one process): the batch is every process's batch together.</summary>
    public bool SynchronizesStatistics { get; init; }

    /// <summary>The virtual batch size the forward is split by (<c>VirtualBatchSize</c>, ghost batch normalization), or null
    /// when the batch is normalized as one. The other fields then describe one full virtual batch, except
    /// <see cref="InputShape"/>, <see cref="Error"/>, <see cref="CounterAfter"/>, <see cref="IncrementsCounter"/> and
    /// <see cref="UpdatesRunningStatistics"/>, which are the whole forward's.</summary>
    public int? VirtualBatchSize { get; init; }

    /// <summary>The number of virtual batches the forward is split into (1 when it is not split).</summary>
    public int VirtualBatches { get; init; } = 1;

    /// <summary>The reasons behind each decision, in words.</summary>
    public required IReadOnlyList<string> Reasons { get; init; }

    /// <summary>Attribute changes made on this instance that have no effect, and why.</summary>
    public required IReadOnlyList<string> IneffectiveChanges { get; init; }

    /// <summary>A readable account of the plan.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Module).Append(" forward on [").Append(string.Join(", ", InputShape)).Append("]: ");
        text.Append(Error is null ? $"normalizes with {NormalizeWith.ToString().ToLowerInvariant()} statistics" : $"throws: {Error}");
        text.AppendLine();
        if (Warning is not null) text.Append("  warning: ").AppendLine(Warning);
        foreach (string reason in Reasons) text.Append("  - ").AppendLine(reason);
        foreach (string change in IneffectiveChanges) text.Append("  ! ").AppendLine(change);
        return text.ToString();
    }
}
