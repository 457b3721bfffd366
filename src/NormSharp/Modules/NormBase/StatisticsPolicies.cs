namespace NormSharp;

/// <summary>
/// What a forward does when the statistics it would take from the input have one value each (BatchNorm: one value per
/// channel, e.g. a training batch of one (N, C); InstanceNorm: one spatial value per plane). Set on a layer with
/// <see cref="NormBase{T}.SmallBatchPolicy"/>; the default is PyTorch's.
/// </summary>
public enum SmallBatchPolicy
{
    /// <summary>PyTorch's behaviour (the default): the forward throws <c>Expected more than 1 value per channel when
    /// training</c> (or InstanceNorm's spatial message), in training and in evaluation without running statistics.</summary>
    Error,

    /// <summary>Normalize with the running statistics when the layer has them, and change nothing (no update, the counter
    /// does not move); a layer without running statistics still throws PyTorch's error, with a sentence saying why the policy
    /// could not apply.</summary>
    UseRunningStatistics,
}

/// <summary>What a forward on an input without values (a batch of N = 0, or an empty extent) does to the running statistics
/// and the counter. Set with <see cref="NormBase{T}.EmptyBatchPolicy"/>; the default is PyTorch's.</summary>
public enum EmptyBatchPolicy
{
    /// <summary>PyTorch's behaviour (the default): BatchNorm in training with tracking counts the empty batch
    /// (num_batches_tracked + 1) and leaves the buffers; InstanceNorm with buffers and N = 0 makes them NaN (pytorch#12013).</summary>
    PyTorch,

    /// <summary>The running statistics and the counter stay exactly as they were; the output is still empty.</summary>
    SkipUpdate,
}

/// <summary>What a forward does when the statistics of its input are not finite (NaN or ±infinity in some channel, or a
/// variance that overflows). Set with <see cref="NormBase{T}.NonFinitePolicy"/>; the default is PyTorch's.</summary>
public enum NonFinitePolicy
{
    /// <summary>PyTorch's behaviour (the default): the non-finite statistics normalize the output and are blended into the
    /// running statistics, which stay non-finite from then on (pytorch#1206).</summary>
    Propagate,

    /// <summary>The output is computed as usual (it is non-finite where the input is), but no running statistic and not the
    /// counter changes, and <see cref="NormWarnings"/> raises a warning naming the layer and the channels.</summary>
    SkipUpdate,

    /// <summary>The forward throws <see cref="ArgumentException"/> naming the channels, and the layer's state (running
    /// statistics, counter, the record <c>Backward</c> uses) is as it was.</summary>
    Throw,
}
