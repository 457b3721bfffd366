namespace NormSharp;

/// <summary>What happens to the running buffers in a forward, and why.</summary>
internal enum RunningUpdate
{
    /// <summary>The buffers are blended with the input's statistics (they change unless the forward throws).</summary>
    Blend,

    /// <summary>InstanceNorm with a batch of 0: the average over no samples makes them NaN, as in PyTorch.</summary>
    BecomesNaN,

    /// <summary>There are no buffers.</summary>
    NoBuffers,

    /// <summary>BatchNorm in training with TrackRunningStats false now: the buffers are not handed on.</summary>
    NotHandedOn,

    /// <summary>The running statistics normalize: they are read, never changed.</summary>
    ReadOnly,

    /// <summary>The input has no values: no statistic changes.</summary>
    EmptyInput,
}
