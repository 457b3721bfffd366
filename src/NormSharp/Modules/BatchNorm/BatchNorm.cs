using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

/// <summary>
/// Batch normalization, PyTorch's <c>_BatchNorm</c>: the decision of which statistics normalize the
/// input, which buffers change and with what factor. The 1d/2d/3d classes only declare their ranks.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <para>For each channel, over the n values of that channel (N for (N, C); N·L; N·H·W; N·D·H·W):</para>
/// <code>
/// y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias
/// </code>
/// <para>In training, E and Var are the batch's mean and <b>biased</b> variance; when tracking, the
/// running statistics move towards the batch's mean and <b>unbiased</b> variance with
/// <c>factor = momentum</c>, or <c>1 / NumBatchesTracked</c> when momentum is null. In evaluation
/// they are the running statistics, as long as the buffers exist. The full rules, for every
/// combination of mode and flags, are what <c>Explain</c> returns.</para>
/// <para>One deliberate difference from PyTorch: every check runs before anything changes, so a
/// forward that throws leaves buffers, parameters and counter as they were (PyTorch increments
/// num_batches_tracked before its one-value-per-channel check).</para>
/// </remarks>
public abstract class BatchNorm<T> : NormBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc cref="NormBase{T}(int, double, double?, bool, bool)"/>
    protected BatchNorm(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>Builds a lazy layer (see <see cref="NormBase{T}(double, double?, bool, bool)"/>).</summary>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="momentum">Factor of the running-statistics update; null for the cumulative average.</param>
    /// <param name="affine">Whether the first forward creates weight and bias.</param>
    /// <param name="trackRunningStats">Whether the first forward creates the running buffers.</param>
    private protected BatchNorm(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    // The layer's exchange, wrapped (see ExchangeCall); rebuilt when StatisticsExchange returns another object.
    private ExchangeCall? exchangeCall;

    /// <summary>
    /// For a layer whose batch is spread over several processes (SyncBatchNorm): the exchange that combines a training
    /// forward's statistics and its backward's sums over the processes. Null (the default) or an exchange of one
    /// process: the batch is this process's input alone.
    /// </summary>
    protected virtual IBatchStatisticsExchange? StatisticsExchange => null;

    /// <summary>
    /// The layer's own check of the input's shape (PyTorch's <c>_check_input_dim</c>): PyTorch's message, or null when
    /// the shape is accepted. The default accepts the ranks in <see cref="NormBase{T}.AcceptedRanks"/>.
    /// </summary>
    /// <param name="shape">The input's lengths.</param>
    protected virtual string? CheckInputShape(ReadOnlySpan<nint> shape) =>
        AcceptedRanks.Contains(shape.Length) ? null : TorchMessages.ExpectedRanks(AcceptedRanks, shape.Length);

    private protected override Tensor<TInput> ForwardCore<TInput>(Tensor<TInput> input, Tensor<TInput>? destination, SavedForward<T> saved)
    {
        ForwardDecision decision = Decide(input.Lengths, CurrentTensors);
        ExchangeCall? call = decision.Synchronizes ? CallFor<TInput>(StatisticsExchange!) : null;
        RecordingExchange? recording = BeginRecording(decision.UsesInputStatistics, call);
        try
        {
            if (decision.Error is not null) throw new ArgumentException(decision.Error);

            // An empty input has no statistics to keep (its channel count is not even checked, as in ATen).
            int groups = input.FlattenedLength == 0 ? 0 : (int)input.Lengths[1];
            (double[] savedMean, double[] savedInvStd) = saved.Begin(groups);
            (T[] Mean, T[] Var)? snapshot = decision.NonFiniteGuard != NonFinitePolicy.Propagate ? SnapshotRunningStatistics() : null;
            (Tensor<TInput> output, Tensor<TInput> readInput, long count) = Functional.BatchNormCore(
                input,
                decision.PassesRunningStatistics ? RunningMean : null,
                decision.PassesRunningStatistics ? RunningVar : null,
                Weight?.Data, Bias?.Data,
                training: decision.UsesInputStatistics, momentum: decision.Factor, eps: Eps,
                savedMean, savedInvStd, destination, allowInPlace: false, exchange: (IBatchStatisticsExchange?)recording ?? call);
            bool skipped = snapshot is { } before
                && ApplyNonFiniteGuard(NonFiniteChannels(savedMean.AsSpan(0, groups), savedInvStd.AsSpan(0, groups), groups), before);
            if (decision.IncrementsCounter && !skipped) NumBatchesTracked = decision.CounterAfter;
            saved.Complete(readInput, input.Lengths, decision.UsesInputStatistics, null, Weight?.Data, call, count);
            saved.ParametersFrozen = decision.ParametersFrozen;
            CommitRecording(recording);
            return output;
        }
        catch (Exception error) when (call is { Reached: false })
        {
            call.Fail(error);
            throw;
        }
    }

    private ExchangeCall CallFor<TInput>(IBatchStatisticsExchange exchange)
    {
        if (exchangeCall is null || !ReferenceEquals(exchangeCall.Inner, exchange)) exchangeCall = new ExchangeCall(exchange);
        return exchangeCall.Begin<TInput>();
    }

    private protected override string? DecisionError(ReadOnlySpan<nint> shape) => Decide(shape, CurrentTensors).Error;

    /// <inheritdoc/>
    /// <remarks>Channels-last for a channels-last input, as one forward's output.</remarks>
    private protected override Tensor<TInput> AllocateOutputLike<TInput>(Tensor<TInput> input) =>
        NormLayout.HasChannelsLastStrides(input) && !TensorStorage.IsRowMajor(input)
            ? Tensor.CreateFromShapeUninitialized<TInput>(input.Lengths, NormLayout.ChannelsLastStrides(input.Lengths))
            : Tensor.CreateFromShapeUninitialized<TInput>(input.Lengths);

    private protected override ForwardPlan ExplainCore(ReadOnlySpan<nint> inputShape, LayerTensors tensors) =>
        Describe(Decide(inputShape, tensors), inputShape, tensors);

    /// <summary>
    /// PyTorch's <c>_BatchNorm.forward</c> decision (factor, counter, <c>bn_training</c>, which buffers are handed on)
    /// plus every check: the one method behind both <c>Forward</c> and <c>Explain</c>.
    /// Allocates nothing unless the forward is going to fail.
    /// </summary>
    private ForwardDecision Decide(ReadOnlySpan<nint> shape, LayerTensors tensors)
    {
        bool hasBuffers = tensors.HasRunningStatistics;
        bool empty = shape.Length < 2 || Functional.ValuesPerChannel(shape) == 0 || shape[1] == 0;
        // A batch spread over several processes (PyTorch's need_sync: training, more than one process): the one-value
        // check then applies to the whole batch's count, after the exchange, so no process can apply the small-batch policy.
        bool multiProcess = Training && StatisticsExchange is { Processes: > 1 };

        // The policies (all off by default, which leaves PyTorch's rules below untouched): frozen statistics and the
        // small-batch policy replace the batch's statistics with the running ones; the empty-batch policy holds the counter.
        bool frozen = FreezeStatistics && hasBuffers;
        bool wouldUseBatch = (Training || !hasBuffers) && !frozen;
        bool oneValue = wouldUseBatch && !multiProcess && shape.Length >= 2 && Functional.ValuesPerChannel(shape) == 1;
        bool smallBatch = oneValue && SmallBatchPolicy == SmallBatchPolicy.UseRunningStatistics && hasBuffers;
        bool runningByPolicy = frozen || smallBatch;
        bool emptySkipped = empty && EmptyBatchPolicy == EmptyBatchPolicy.SkipUpdate && !runningByPolicy;

        // Steps 2-3: the counter and the factor.
        CounterChange counter = NumBatchesTracked is null ? CounterChange.NoCounter
            : !Training ? CounterChange.Evaluation
            : !TrackRunningStats ? CounterChange.TrackingOff
            : runningByPolicy || emptySkipped ? CounterChange.HeldByPolicy
            : CounterChange.Increments;
        double factor = counter == CounterChange.Increments ? Momentum ?? 1.0 / (NumBatchesTracked!.Value + 1) : Momentum ?? 0.0;

        // Step 4: which statistics normalize (PyTorch's bn_training). Step 5: which buffers are handed on.
        bool useBatchStatistics = wouldUseBatch && !smallBatch;
        bool passesBuffers = runningByPolicy || !Training || TrackRunningStats;
        RunningUpdate update = !hasBuffers ? RunningUpdate.NoBuffers
            : !passesBuffers ? RunningUpdate.NotHandedOn
            : !useBatchStatistics ? RunningUpdate.ReadOnly
            : empty ? RunningUpdate.EmptyInput
            : RunningUpdate.Blend;

        bool synchronizes = multiProcess && useBatchStatistics;
        // Python computes 1.0 / float(num_batches_tracked) after the increment: a counter of -1 divides by zero.
        string? error = CheckInputShape(shape)
            ?? (synchronizes && VirtualBatchSize is int k ? VirtualBatchesAcrossProcesses(k, StatisticsExchange!.Processes) : null)
            ?? (FreezeStatistics && !hasBuffers ? FrozenWithoutRunningStatistics : null)
            ?? (counter == CounterChange.Increments && Momentum is null && NumBatchesTracked == -1 ? TorchMessages.FloatDivisionByZero : null)
            ?? Functional.ValidateBatchNorm(shape, passesBuffers ? tensors.RunningMeanLength : null, passesBuffers ? tensors.RunningVarLength : null,
                                            tensors.WeightLength, tensors.BiasLength, useBatchStatistics, Eps, localBatchIsWhole: !synchronizes);
        if (error is not null && oneValue && !hasBuffers && SmallBatchPolicy == SmallBatchPolicy.UseRunningStatistics
            && error == TorchMessages.MoreThanOneValuePerChannel(shape))
            error += SmallBatchWithoutRunningStatistics;
        long? counterAfter = counter == CounterChange.Increments && error is null ? NumBatchesTracked + 1 : NumBatchesTracked;
        NormalizeReason why = runningByPolicy ? NormalizeReason.Policy
            : Training ? NormalizeReason.Training
            : useBatchStatistics ? NormalizeReason.EvaluationWithoutRunningStatistics
            : NormalizeReason.EvaluationWithRunningStatistics;
        return new ForwardDecision(useBatchStatistics ? StatisticsSource.Batch : StatisticsSource.Running, why, passesBuffers, update, factor,
                                   counter, counterAfter, Unbatched: false, Warning: null, error, synchronizes)
        {
            StatisticsFrozen = frozen,
            SmallBatch = smallBatch,
            EmptySkipped = emptySkipped && (counter == CounterChange.HeldByPolicy),
            NonFiniteGuard = useBatchStatistics && !empty ? NonFinitePolicy : NonFinitePolicy.Propagate,
            ParametersFrozen = FreezeParameters,
        };
    }

    /// <summary>The decision in words: the <see cref="ForwardPlan"/> that <c>Explain</c> returns. Renders the decision's
    /// fields; the numbers in the sentences are the layer's attribute values.</summary>
    private ForwardPlan Describe(ForwardDecision decision, ReadOnlySpan<nint> shape, LayerTensors tensors)
    {
        var reasons = new List<string>
        {
            decision.Counter switch
            {
                CounterChange.Increments => $"training with TrackRunningStats = true: num_batches_tracked goes from {NumBatchesTracked} to {NumBatchesTracked + 1}.",
                CounterChange.NoCounter => "the layer has no num_batches_tracked (built without running statistics, or set to null).",
                CounterChange.Evaluation => "evaluation mode: num_batches_tracked does not move.",
                CounterChange.HeldByPolicy => $"training with TrackRunningStats = true, but a statistics policy (below) holds num_batches_tracked at {NumBatchesTracked}.",
                _ => "TrackRunningStats is false now: num_batches_tracked does not move.",
            },
            decision.WhyNormalize switch
            {
                NormalizeReason.Training => "training mode: the batch's own mean and biased variance normalize the input.",
                NormalizeReason.Policy => (Training ? "training" : "evaluation") + " mode, but a statistics policy (below) makes running_mean and running_var normalize the input.",
                NormalizeReason.EvaluationWithoutRunningStatistics =>
                    "evaluation mode, but the layer has no running buffers: the batch's own mean and biased variance normalize the input, exactly as in training.",
                _ => "evaluation mode and the running buffers exist: running_mean and running_var normalize the input" +
                     (TrackRunningStats ? "." : " (TrackRunningStats = false does not change this: only the buffers' existence counts)."),
            },
            decision.Update switch
            {
                RunningUpdate.Blend when Momentum is null =>
                    $"running statistics are updated with the cumulative average (momentum is null): factor = 1/{NumBatchesTracked + (decision.Counter == CounterChange.Increments ? 1 : 0)}; running_var takes the unbiased variance.",
                RunningUpdate.Blend => $"running statistics are updated with the exponential moving average: factor = momentum = {Momentum}; running_var takes the unbiased variance.",
                RunningUpdate.NoBuffers => "no running statistics exist, so none are updated.",
                RunningUpdate.NotHandedOn => "TrackRunningStats is false now: the buffers are not handed on, so they are not updated.",
                RunningUpdate.ReadOnly when decision.WhyNormalize == NormalizeReason.Policy => "running statistics are only read, never updated (a statistics policy).",
                RunningUpdate.ReadOnly => "running statistics are only read in evaluation mode, never updated.",
                _ => "the input is empty: the output is empty and no statistic changes.",
            },
        };
        if (StatisticsExchange is { } exchange)
            reasons.Add(decision.Synchronizes
                ? $"training mode with {exchange.Processes} processes: the mean and variance are those of every process's batch together " +
                  "(each process's per-channel mean, variance and count are gathered and combined in rank order), and the backward sums " +
                  "Σdy and Σdy·(x - mean) over the processes."
                : Training
                    ? "the process group has one process: nothing is exchanged, the layer is a BatchNorm."
                    : "evaluation mode: nothing is exchanged between processes; each normalizes its own input.");
        if (decision.UsesInputStatistics)
            reasons.Add(decision.Synchronizes
                ? "batch statistics are used, so a batch with one value per channel over all processes together is an error."
                : "batch statistics are used, so an input with one value per channel is an error.");
        AddPolicyReasons(reasons, decision);
        if (decision.Error is not null)
            reasons.Add("nothing changes, because the forward throws.");

        return new ForwardPlan
        {
            Module = ModuleName,
            InputShape = shape.ToArray().Select(l => (long)l).ToArray(),
            Training = Training,
            TrackRunningStats = TrackRunningStats,
            HasRunningStatistics = tensors.HasRunningStatistics,
            HasAffineParameters = tensors.HasAffineParameters,
            NormalizeWith = decision.NormalizeWith,
            PassesRunningStatistics = decision.PassesRunningStatistics,
            UpdatesRunningStatistics = decision.UpdatesRunningStatistics,
            Averaging = !decision.UpdatesRunningStatistics ? RunningAverage.None : Momentum is null ? RunningAverage.Cumulative : RunningAverage.Exponential,
            Factor = decision.Factor,
            IncrementsCounter = decision.IncrementsCounter,
            CounterAfter = decision.CounterAfter,
            SingleValueCheckApplies = decision.UsesInputStatistics,
            SynchronizesStatistics = decision.Synchronizes,
            Error = decision.Error,
            Reasons = reasons,
            IneffectiveChanges = IneffectiveChanges(tensors),
        };
    }
}
