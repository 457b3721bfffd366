namespace NormSharp;

/// <summary>
/// Which of a layer's tensors exist and their lengths, as a forward's decision sees them: the layer's own, or, when a lazy
/// layer is explained, those its first forward would create. The decision reads this instead of the layer's fields, so
/// that explaining never has to create (and undo) anything.
/// </summary>
/// <param name="NumFeatures">C as the layer would have it.</param>
/// <param name="WeightLength">The weight's length, or null when there is none.</param>
/// <param name="BiasLength">The bias's length, or null when there is none.</param>
/// <param name="RunningMeanLength">running_mean's length, or null when there is none.</param>
/// <param name="RunningVarLength">running_var's length, or null when there is none.</param>
internal readonly record struct LayerTensors(int NumFeatures, long? WeightLength, long? BiasLength, long? RunningMeanLength, long? RunningVarLength)
{
    /// <summary>Whether weight and bias exist.</summary>
    public bool HasAffineParameters => WeightLength is not null;

    /// <summary>Whether running buffers exist.</summary>
    public bool HasRunningStatistics => RunningMeanLength is not null || RunningVarLength is not null;
}
