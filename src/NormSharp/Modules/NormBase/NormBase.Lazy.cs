using System.Numerics.Tensors;

namespace NormSharp;

// The lazy machinery, PyTorch's _LazyNormBase: the tensors the constructor's flags promised are created by the first
// forward or load, with C taken from it.
public abstract partial class NormBase<T>
{
    /// <summary>
    /// True for a lazy layer until its first successful forward or load; PyTorch's class then becomes the non-lazy one
    /// (<c>cls_to_become</c>), which <see cref="ModuleName"/> follows.
    /// </summary>
    private protected bool InLazyForm { get; private set; }

    // Lazy layers: which tensors the constructor's flags promised and that do not exist yet.
    private bool pendingAffine, pendingRunningStatistics, lazyCreatedAffine, lazyCreatedRunningStatistics;

    /// <summary>
    /// PyTorch's <c>_LazyNormBase.initialize_parameters</c>: C = <paramref name="numFeatures"/>, the promised tensors
    /// the current flags still ask for are created, then <see cref="ResetParameters"/>. Throws, changing nothing, when a
    /// flag was changed before the first forward so that the layer cannot be fully initialized, as PyTorch fails then,
    /// and when the tensors cannot be allocated.
    /// </summary>
    private void Initialize(int numFeatures)
    {
        string? problem = InitializationProblem();
        if (problem is not null) throw new InvalidOperationException(problem);
        bool affineNow = Affine && pendingAffine, statisticsNow = TrackRunningStats && pendingRunningStatistics;

        // Everything allocated first: an OutOfMemoryException leaves the layer uninitialized and unchanged.
        Parameter<T>? weight = affineNow ? new Parameter<T>(TensorStorage.Filled([numFeatures], T.One)) : null;
        Parameter<T>? bias = affineNow ? new Parameter<T>(TensorStorage.Filled([numFeatures], T.Zero)) : null;
        Tensor<T>? runningMean = statisticsNow ? TensorStorage.Filled([numFeatures], T.Zero) : null;
        Tensor<T>? runningVar = statisticsNow ? TensorStorage.Filled([numFeatures], T.One) : null;

        NumFeatures = numFeatures;
        if (affineNow) (Weight, Bias) = (weight, bias);
        if (statisticsNow) (RunningMean, RunningVar) = (runningMean, runningVar);
        (lazyCreatedAffine, lazyCreatedRunningStatistics) = (affineNow, statisticsNow);
        pendingAffine = pendingRunningStatistics = false;
    }

    /// <summary>The layer's tensors as <see cref="Initialize"/> with <paramref name="numFeatures"/> would leave them.</summary>
    private LayerTensors TensorsAfterInitialization(int numFeatures)
    {
        long? affineLength = Weight is not null ? Weight.Data.FlattenedLength : Affine && pendingAffine ? numFeatures : null;
        long? biasLength = Bias is not null ? Bias.Data.FlattenedLength : Affine && pendingAffine ? numFeatures : null;
        long? meanLength = RunningMean is not null ? RunningMean.FlattenedLength : TrackRunningStats && pendingRunningStatistics ? numFeatures : null;
        long? varLength = RunningVar is not null ? RunningVar.FlattenedLength : TrackRunningStats && pendingRunningStatistics ? numFeatures : null;
        return new LayerTensors(numFeatures, affineLength, biasLength, meanLength, varLength);
    }

    /// <summary>Why a lazy layer's first forward on an input of this shape (of an accepted rank) cannot initialize it, or null.</summary>
    private string? LazyForwardProblem(ReadOnlySpan<nint> shape) =>
        InitializationProblem()
        ?? (shape[1] > int.MaxValue ? $"{ModuleName} cannot take num_features = {shape[1]} from the input: at most {int.MaxValue} channels are supported." : null);

    /// <summary>Why a lazy layer cannot be initialized now (a flag changed since construction), or null.</summary>
    private string? InitializationProblem()
    {
        bool consistent = !(Affine && !pendingAffine && Weight is null) && !(TrackRunningStats && !pendingRunningStatistics && RunningMean is null)
                          && !(pendingAffine && !Affine) && !(pendingRunningStatistics && !TrackRunningStats);
        return consistent
            ? null
            : $"module {ModuleName} has not been fully initialized: Affine or TrackRunningStats was changed before the first " +
              "forward, so the tensors promised at construction and the flags disagree (PyTorch fails the same way).";
    }

    /// <summary>Undoes <see cref="Initialize"/> after a failed first forward or load, so that it changed nothing.</summary>
    private void Uninitialize()
    {
        NumFeatures = 0;
        if (lazyCreatedAffine) (Weight, Bias, pendingAffine) = (null, null, true);
        if (lazyCreatedRunningStatistics) (RunningMean, RunningVar, pendingRunningStatistics) = (null, null, true);
        ResetLazyHistory();
    }

    private void ResetLazyHistory() => lazyCreatedAffine = lazyCreatedRunningStatistics = false;
}
