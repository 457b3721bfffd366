using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

/// <summary>
/// Instance normalization, PyTorch's <c>_InstanceNorm</c>, on the same base as BatchNorm: statistics per (sample,
/// channel) over the spatial values. The 1d/2d/3d classes only declare their ranks.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <para>For each sample n and channel c, over the S spatial values of that plane:</para>
/// <code>
/// y = (x - E[x]) / sqrt(Var[x] + eps) * weight[c] + bias[c]        (Var biased, over S values)
/// </code>
/// <para>Input statistics are used when <c>Training || !TrackRunningStats</c>; otherwise the running statistics
/// (which must then exist). Unlike BatchNorm, the running buffers are handed on <b>whenever they exist</b>, so they
/// are updated whenever input statistics are used, even in evaluation with <c>TrackRunningStats = false</c>: each
/// becomes the average over the batch of <c>(1 - f) · old + f · stat(sample)</c> (mean, and the unbiased variance over
/// the S values), with <c>f = Momentum ?? 0</c>. The counter is never used. An input without the batch dimension is a
/// batch of one. A channel count other than <see cref="NormBase{T}.NumFeatures"/> is an error while <c>Affine</c> is
/// true and a warning (<see cref="NormWarnings"/>) while it is false. <c>Explain</c> gives the rules for any state.</para>
/// <para>As for BatchNorm, a forward that throws changes nothing.</para>
/// </remarks>
public abstract class InstanceNorm<T> : NormBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private const string RunningMeanKey = "running_mean", RunningVarKey = "running_var", CounterKey = "num_batches_tracked";

    /// <inheritdoc cref="NormBase{T}(int, double, double?, bool, bool)"/>
    protected InstanceNorm(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>Builds a lazy layer (see <see cref="NormBase{T}(double, double?, bool, bool)"/>).</summary>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="momentum">Factor of the running-statistics update (null means 0).</param>
    /// <param name="affine">Whether the first forward creates weight and bias.</param>
    /// <param name="trackRunningStats">Whether the first forward creates the running buffers.</param>
    private protected InstanceNorm(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>The rank of an input without the batch dimension (PyTorch's <c>_get_no_batch_dim</c>).</summary>
    private int UnbatchedRank => AcceptedRanks[0];

    private protected override Tensor<TInput> ForwardCore<TInput>(Tensor<TInput> input, Tensor<TInput>? destination, SavedForward<T> saved)
    {
        ForwardDecision decision = Decide(input.Lengths, CurrentTensors);
        if (decision.Warning is not null) NormWarnings.Warn(this, ModuleName, decision.Warning);
        if (decision.Error is not null) throw new ArgumentException(decision.Error);

        Span<nint> batched = stackalloc nint[input.Rank + (decision.Unbatched ? 1 : 0)];
        BatchedShape(input.Lengths, batched);
        int groups = input.FlattenedLength == 0 ? 0 : (int)(batched[0] * batched[1]);
        (double[] savedMean, double[] savedInvStd) = saved.Begin(groups);
        RecordingExchange? recording = BeginRecording(decision.UsesInputStatistics, null);
        (T[] Mean, T[] Var)? snapshot = decision.NonFiniteGuard != NonFinitePolicy.Propagate ? SnapshotRunningStatistics() : null;
        (Tensor<TInput> output, Tensor<TInput> kernelInput, NormLayout layout) = Functional.InstanceNormCore(
            input, batched, RunningMean, RunningVar, Weight?.Data, Bias?.Data, decision.UsesInputStatistics, decision.Factor, Eps,
            savedMean, savedInvStd, destination, allowInPlace: false, decision.Update, recording);
        if (snapshot is { } before) ApplyNonFiniteGuard(NonFiniteChannels(savedMean.AsSpan(0, groups), savedInvStd.AsSpan(0, groups), (int)batched[1]), before);
        saved.Complete(kernelInput, input.Lengths, decision.UsesInputStatistics, layout, Weight?.Data);
        saved.ParametersFrozen = decision.ParametersFrozen;
        CommitRecording(recording);
        return output;
    }

    /// <inheritdoc/>
    /// <remarks>The running buffers are written whenever input statistics are used, and made NaN by an empty batch.</remarks>
    private protected override bool ForwardMayChangeState(ReadOnlySpan<nint> shape) =>
        base.ForwardMayChangeState(shape)
        || (RunningMean is not null && (!TrackRunningStats || (shape.Length != UnbatchedRank && shape.Length > 0 && shape[0] == 0)));

    private protected override string? DecisionError(ReadOnlySpan<nint> shape) => Decide(shape, CurrentTensors).Error;

    private protected override bool HasBatchDimension(ReadOnlySpan<nint> shape) => shape.Length != UnbatchedRank;

    private protected override ForwardPlan ExplainCore(ReadOnlySpan<nint> inputShape, LayerTensors tensors)
    {
        ForwardDecision decision = Decide(inputShape, tensors);
        var reasons = new List<string>
        {
            decision.Counter == CounterChange.NoCounter
                ? "the layer has no num_batches_tracked (built without running statistics, or set to null)."
                : "InstanceNorm never uses or increments num_batches_tracked.",
        };
        if (decision.Unbatched)
            reasons.Add($"a {inputShape.Length}D input has no batch dimension: it is normalized as a batch of one.");
        reasons.Add(decision.WhyNormalize switch
        {
            NormalizeReason.Training => "training mode: each (sample, channel) plane is normalized with its own mean and biased variance.",
            NormalizeReason.Policy => (Training ? "training" : "evaluation") + " mode, but a statistics policy (below) makes running_mean and running_var normalize the input.",
            NormalizeReason.EvaluationWithoutRunningStatistics =>
                "evaluation mode with TrackRunningStats = false: each (sample, channel) plane is normalized with its own mean and biased variance, as in training.",
            _ => "evaluation mode with TrackRunningStats = true: running_mean and running_var normalize the input.",
        });

        string factorText = Momentum is double m ? $"factor = momentum = {m}" : "momentum is null, so factor = 0 (the stored values stay)";
        if (decision.Update == RunningUpdate.NoBuffers)
            reasons.Add("no running statistics exist, so none are updated.");
        else if (decision.Error is null)
        {
            reasons.Add(decision.Update switch
            {
                RunningUpdate.Blend =>
                    "the running buffers are handed on whenever they exist, and input statistics are used: each becomes the " +
                    $"average over the batch of (1 - f) * running + f * stat(sample), {factorText}; running_var takes the unbiased variance." +
                    (Training ? "" : " This happens in evaluation too, because TrackRunningStats is false."),
                RunningUpdate.BecomesNaN =>
                    "the batch is empty (N = 0): each running buffer becomes the average over no samples, which is NaN, as in PyTorch.",
                RunningUpdate.ReadOnly when decision.WhyNormalize == NormalizeReason.Policy => "the running buffers are only read, never updated (a statistics policy).",
                RunningUpdate.ReadOnly => "the running buffers are handed on and rewritten as the average of the batch's identical copies, so they keep their values.",
                _ => "the input is empty: no statistic changes.",
            });
        }

        if (decision.UsesInputStatistics)
            reasons.Add("input statistics are used, so an input with one spatial value is an error.");
        AddPolicyReasons(reasons, decision);
        if (decision.Warning is not null)
            reasons.Add("the channel count differs from num_features and Affine is false: a warning, not an error.");
        if (decision.Error is not null)
            reasons.Add("nothing changes, because the forward throws.");

        return new ForwardPlan
        {
            Module = ModuleName,
            InputShape = inputShape.ToArray().Select(l => (long)l).ToArray(),
            Training = Training,
            TrackRunningStats = TrackRunningStats,
            HasRunningStatistics = tensors.HasRunningStatistics,
            HasAffineParameters = tensors.HasAffineParameters,
            NormalizeWith = decision.NormalizeWith,
            PassesRunningStatistics = decision.PassesRunningStatistics,
            UpdatesRunningStatistics = decision.UpdatesRunningStatistics,
            Averaging = decision.UpdatesRunningStatistics ? RunningAverage.Exponential : RunningAverage.None,
            Factor = decision.Factor,
            IncrementsCounter = false,
            CounterAfter = NumBatchesTracked,
            SingleValueCheckApplies = decision.UsesInputStatistics,
            Error = decision.Error,
            Warning = decision.Warning,
            Reasons = reasons,
            IneffectiveChanges = IneffectiveChanges(tensors),
        };
    }

    private protected override List<string> IneffectiveChanges(LayerTensors tensors)
    {
        var changes = new List<string>();
        bool hasAffine = tensors.HasAffineParameters;
        if (Affine != hasAffine)
        {
            changes.Add(hasAffine
                ? "Affine was set to false after construction: weight and bias are still applied because they exist; the flag only " +
                  "turns a channel mismatch from an error into a warning."
                : "Affine was set to true after construction: there is still no weight or bias to apply; the flag only turns a " +
                  "channel mismatch from a warning into an error.");
        }

        return changes;
    }

    /// <summary>PyTorch's <c>_InstanceNorm.forward</c> and <c>F.instance_norm</c> decision, with every check: the one method
    /// behind both <c>Forward</c> and <c>Explain</c>. The running-statistics rule is <c>Functional.InstanceNormRunningUpdate</c>,
    /// the same the functional op applies.</summary>
    private ForwardDecision Decide(ReadOnlySpan<nint> shape, LayerTensors tensors)
    {
        bool hasBuffers = tensors.HasRunningStatistics;
        bool hasBoth = tensors.RunningMeanLength is not null && tensors.RunningVarLength is not null;
        // The policies (all off by default): frozen statistics and the small-batch policy normalize with the running buffers.
        bool frozen = FreezeStatistics && hasBoth;
        bool wouldUseInput = (Training || !TrackRunningStats) && !frozen;
        bool oneValue = wouldUseInput && shape.Length >= 2 && SpatialValues(shape) == 1;
        bool smallBatch = oneValue && SmallBatchPolicy == SmallBatchPolicy.UseRunningStatistics && hasBoth;
        bool runningByPolicy = frozen || smallBatch;
        bool useInputStatistics = wouldUseInput && !smallBatch;
        double factor = Momentum ?? 0.0;
        StatisticsSource source = useInputStatistics ? StatisticsSource.Instance : StatisticsSource.Running;
        NormalizeReason why = runningByPolicy ? NormalizeReason.Policy
            : Training ? NormalizeReason.Training
            : useInputStatistics ? NormalizeReason.EvaluationWithoutRunningStatistics
            : NormalizeReason.EvaluationWithRunningStatistics;
        CounterChange counter = NumBatchesTracked is null ? CounterChange.NoCounter : CounterChange.NeverUsed;
        RunningUpdate noUpdate = hasBuffers ? RunningUpdate.ReadOnly : RunningUpdate.NoBuffers;
        if (!AcceptedRanks.Contains(shape.Length))
            return new ForwardDecision(source, why, hasBuffers, noUpdate, factor, counter, NumBatchesTracked, false, null,
                                       TorchMessages.ExpectedRanks(AcceptedRanks, shape.Length));
        if (FreezeStatistics && !hasBoth)
            return new ForwardDecision(source, why, hasBuffers, noUpdate, factor, counter, NumBatchesTracked, false, null,
                                       FrozenWithoutRunningStatistics);

        bool unbatched = shape.Length == UnbatchedRank;
        int featureDim = unbatched ? 0 : 1;
        string? warning = null;
        if (shape[featureDim] != tensors.NumFeatures)
        {
            if (Affine)
                return new ForwardDecision(source, why, hasBuffers, noUpdate, factor, counter, NumBatchesTracked, unbatched, null,
                                           TorchMessages.InstanceNormChannelMismatch(featureDim, tensors.NumFeatures, shape[featureDim]));
            warning = TorchMessages.InstanceNormChannelMismatchWarning(featureDim);
        }

        Span<nint> batched = stackalloc nint[shape.Length + (unbatched ? 1 : 0)];
        BatchedShape(shape, batched);
        string? error = Functional.ValidateInstanceNorm(batched, tensors.RunningMeanLength, tensors.RunningVarLength,
                                                        tensors.WeightLength, tensors.BiasLength, useInputStatistics);
        if (error is not null && oneValue && !hasBoth && SmallBatchPolicy == SmallBatchPolicy.UseRunningStatistics
            && error == TorchMessages.MoreThanOneSpatialElement(batched))
            error += SmallBatchWithoutRunningStatistics;
        RunningUpdate update = Functional.InstanceNormRunningUpdate(batched, useInputStatistics, tensors.RunningMeanLength is not null,
                                                                    tensors.RunningVarLength is not null);
        // N = 0 makes the buffers NaN in PyTorch (the average over no samples); a policy that reads or skips keeps them.
        bool emptySkipped = update == RunningUpdate.BecomesNaN && !runningByPolicy && EmptyBatchPolicy == EmptyBatchPolicy.SkipUpdate;
        if (update == RunningUpdate.BecomesNaN && (runningByPolicy || emptySkipped)) update = RunningUpdate.EmptyInput;
        return new ForwardDecision(source, why, hasBuffers, update, factor, counter, NumBatchesTracked, unbatched, warning, error)
        {
            StatisticsFrozen = frozen,
            SmallBatch = smallBatch,
            EmptySkipped = emptySkipped,
            NonFiniteGuard = useInputStatistics && update == RunningUpdate.Blend ? NonFinitePolicy : NonFinitePolicy.Propagate,
            ParametersFrozen = FreezeParameters,
        };
    }

    /// <summary>S, the values of one (sample, channel) plane: the product of the lengths after the channel dimension.</summary>
    private long SpatialValues(ReadOnlySpan<nint> shape)
    {
        long spatial = 1;
        for (int d = shape.Length == UnbatchedRank ? 1 : 2; d < shape.Length; d++) spatial *= shape[d];
        return spatial;
    }

    /// <summary>The (N, C, *) shape an input is read as: itself, or (1, ...) for an input without the batch dimension.</summary>
    private static void BatchedShape(ReadOnlySpan<nint> shape, Span<nint> batched)
    {
        if (batched.Length == shape.Length)
        {
            shape.CopyTo(batched);
            return;
        }

        batched[0] = 1;
        shape.CopyTo(batched[1..]);
    }

    /// <summary>
    /// NormSharp's rule for checkpoints (PyTorch raises here only for version-less dicts, and even with strict = false):
    /// loading running statistics into an InstanceNorm built without them drops them, with a warning, instead of failing.
    /// </summary>
    private protected override IReadOnlyList<string> KeysToDrop(IReadOnlyDictionary<string, StateTensor> incoming)
    {
        if (TrackRunningStats || RunningMean is not null) return [];
        return new[] { RunningMeanKey, RunningVarKey, CounterKey }.Where(incoming.ContainsKey).ToList();
    }

    private protected override void OnKeysDropped(IReadOnlyList<string> dropped) =>
        NormWarnings.Warn(this, ModuleName,
            $"Dropped running stats buffer(s) {string.Join(" and ", dropped.Select(k => $"\"{k}\""))} for {ModuleName} with " +
            $"track_running_stats=False. If state_dict is a checkpoint saved before 0.4.0, this may be expected because {ModuleName} " +
            $"does not track running stats by default since 0.4.0. If the running stats are actually needed, instead set " +
            $"track_running_stats=True in {ModuleName} to enable them.");
}
