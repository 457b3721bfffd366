using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Errors;

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
/// combination of mode and flags, are what <see cref="Explain"/> returns.</para>
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

    /// <summary>The input ranks this layer accepts (PyTorch's <c>_check_input_dim</c>).</summary>
    protected abstract IReadOnlyList<int> AcceptedRanks { get; }

    /// <summary>Normalizes <paramref name="input"/> and, in training with tracking, updates the running statistics.</summary>
    /// <param name="input">(N, C, *) with a rank this layer accepts; any strides (a non-row-major input is copied first).</param>
    /// <returns>A new row-major tensor of the input's shape.</returns>
    /// <exception cref="ArgumentException">A check fails (rank, channels, one value per channel, eps);
    /// the message is PyTorch's, and nothing changed.</exception>
    /// <example>
    /// <code>
    /// var bn = new BatchNorm1d(3);
    /// Tensor&lt;float&gt; y = bn.Forward(Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]));
    /// // bn.NumBatchesTracked == 1; bn.RunningMean == 0.1 * [2.5, 3.5, 4.5]
    /// </code>
    /// </example>
    public Tensor<T> Forward(Tensor<T> input) => ForwardInto(input, null);

    /// <summary>
    /// <see cref="Forward(Tensor{T})"/> writing into <paramref name="destination"/>: no allocation in steady state.
    /// </summary>
    /// <param name="input">(N, C, *) with a rank this layer accepts.</param>
    /// <param name="destination">The input's lengths, laid out as the input (row-major, or channels-last for a
    /// channels-last input).</param>
    /// <exception cref="ArgumentException">A check fails (nothing changed), or the destination does not fit.</exception>
    public void Forward(Tensor<T> input, Tensor<T> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ForwardInto(input, destination);
    }

    private Tensor<T> ForwardInto(Tensor<T> input, Tensor<T>? destination)
    {
        ArgumentNullException.ThrowIfNull(input);
        ForwardDecision decision = Decide(input.Lengths);
        if (decision.Error is not null) throw new ArgumentException(decision.Error);

        int channels = (int)input.Lengths[1];
        (double[] savedMean, double[] savedInvStd) = SavedStatistics(channels);
        (Tensor<T> output, Tensor<T> readInput) = Functional.BatchNormCore(
            input,
            decision.PassesRunningStatistics ? RunningMean : null,
            decision.PassesRunningStatistics ? RunningVar : null,
            Weight?.Data, Bias?.Data,
            training: decision.UseBatchStatistics, momentum: decision.Factor, eps: Eps,
            savedMean, savedInvStd, destination);
        if (decision.IncrementsCounter) NumBatchesTracked = decision.CounterAfter;
        SaveForBackward(readInput, decision.UseBatchStatistics);
        return output;
    }

    /// <summary>
    /// The gradient of the loss with respect to the last <see cref="Forward(Tensor{T})"/>'s input, given dy, the gradient with
    /// respect to its output (PyTorch's <c>y.backward(dy)</c> for this layer). Adds Σ dy·x̂ into <c>Weight.Grad</c> and
    /// Σ dy into <c>Bias.Grad</c> (when they exist and require grad), as PyTorch's <c>.grad</c> accumulates.
    /// </summary>
    /// <param name="gradOutput">dy, the shape of the last forward's input.</param>
    /// <returns>dx, a new tensor of the input's shape and layout.</returns>
    /// <remarks>
    /// Uses what that forward saved: its input (do not modify it in between), the statistics it normalized
    /// with, and the weight at that time. With batch statistics (training, or evaluation without buffers)
    /// <c>dx = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))</c>; with running statistics <c>dx = dy·w·invStd</c>
    /// (see <c>Kernels/BatchNormBackward.cs</c>). Calling it again for the same forward adds the gradients again.
    /// </remarks>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException"><paramref name="gradOutput"/> does not have the input's shape.</exception>
    public Tensor<T> Backward(Tensor<T> gradOutput) => BackwardFromSaved(gradOutput, null)!;

    /// <summary><see cref="Backward(Tensor{T})"/> writing dx into <paramref name="destination"/> (the input's shape and layout).</summary>
    /// <param name="gradOutput">dy, the shape of the last forward's input.</param>
    /// <param name="destination">Receives dx.</param>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException">A shape or layout does not fit.</exception>
    public void Backward(Tensor<T> gradOutput, Tensor<T> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        BackwardFromSaved(gradOutput, destination);
    }

    /// <summary>
    /// What the next <see cref="Forward(Tensor{T})"/> on an input of this shape will do, and why, without running
    /// it or changing anything. Forward executes this very plan.
    /// </summary>
    /// <param name="inputShape">The input's lengths, e.g. <c>x.Lengths</c>.</param>
    public ForwardPlan Explain(ReadOnlySpan<nint> inputShape) => Describe(Decide(inputShape), inputShape);

    /// <summary>
    /// PyTorch's <c>_BatchNorm.forward</c> decision (factor, counter, <c>bn_training</c>, which buffers are handed on)
    /// plus every check: the one method behind both <see cref="Forward(Tensor{T})"/> and <see cref="Explain"/>.
    /// Allocates nothing unless the forward is going to fail.
    /// </summary>
    private ForwardDecision Decide(ReadOnlySpan<nint> shape)
    {
        bool hasBuffers = RunningMean is not null || RunningVar is not null;

        // Steps 2-3: the factor and the counter.
        double factor = Momentum ?? 0.0;
        bool incrementsCounter = Training && TrackRunningStats && NumBatchesTracked is not null;
        long? counterAfter = incrementsCounter ? NumBatchesTracked + 1 : NumBatchesTracked;
        if (incrementsCounter) factor = Momentum ?? 1.0 / counterAfter!.Value;

        // Step 4: which statistics normalize (PyTorch's bn_training). Step 5: which buffers are handed on.
        bool useBatchStatistics = Training || (RunningMean is null && RunningVar is null);
        bool passesBuffers = !Training || TrackRunningStats;
        bool nonEmpty = shape.Length >= 2 && Functional.ValuesPerChannel(shape) > 0 && shape[1] > 0;
        bool updates = useBatchStatistics && passesBuffers && hasBuffers && nonEmpty;

        string? error = AcceptedRanks.Contains(shape.Length)
            ? Functional.ValidateBatchNorm(shape, passesBuffers ? RunningMean?.FlattenedLength : null, passesBuffers ? RunningVar?.FlattenedLength : null,
                                           Weight?.Data.FlattenedLength, Bias?.Data.FlattenedLength, useBatchStatistics, Eps)
            : TorchMessages.ExpectedRanks(AcceptedRanks, shape.Length);
        if (error is not null)
        {
            incrementsCounter = false;
            counterAfter = NumBatchesTracked;
            updates = false;
        }

        return new ForwardDecision(useBatchStatistics, passesBuffers, updates, factor, incrementsCounter, counterAfter, hasBuffers, error);
    }

    /// <summary>The decision in words: the <see cref="ForwardPlan"/> that <see cref="Explain"/> returns.</summary>
    private ForwardPlan Describe(ForwardDecision decision, ReadOnlySpan<nint> shape)
    {
        var reasons = new List<string>();
        string momentumText = Momentum is double m ? $"momentum = {m}" : "momentum is null";
        bool wouldIncrement = Training && TrackRunningStats && NumBatchesTracked is not null;
        if (wouldIncrement)
            reasons.Add($"training with TrackRunningStats = true: num_batches_tracked goes from {NumBatchesTracked} to {NumBatchesTracked + 1}.");
        else if (NumBatchesTracked is null)
            reasons.Add("the layer was built without running statistics: there is no num_batches_tracked.");
        else if (!Training)
            reasons.Add("evaluation mode: num_batches_tracked does not move.");
        else
            reasons.Add("TrackRunningStats is false now: num_batches_tracked does not move.");

        if (Training)
            reasons.Add("training mode: the batch's own mean and biased variance normalize the input.");
        else if (decision.UseBatchStatistics)
            reasons.Add("evaluation mode, but the layer has no running buffers: the batch's own mean and biased variance " +
                        "normalize the input, exactly as in training.");
        else
            reasons.Add("evaluation mode and the running buffers exist: running_mean and running_var normalize the input" +
                        (TrackRunningStats ? "." : " (TrackRunningStats = false does not change this: only the buffers' existence counts)."));

        if (decision.UpdatesRunningStatistics || (decision.Error is not null && decision.UseBatchStatistics && decision.PassesRunningStatistics && decision.HasRunningStatistics))
            reasons.Add(Momentum is null
                ? $"running statistics are updated with the cumulative average ({momentumText}): factor = 1/{NumBatchesTracked + (wouldIncrement ? 1 : 0)}; running_var takes the unbiased variance."
                : $"running statistics are updated with the exponential moving average: factor = {momentumText}; running_var takes the unbiased variance.");
        else if (!decision.HasRunningStatistics)
            reasons.Add("no running statistics exist, so none are updated.");
        else if (Training && !TrackRunningStats)
            reasons.Add("TrackRunningStats is false now: the buffers are not handed on, so they are not updated.");
        else if (!decision.UseBatchStatistics)
            reasons.Add("running statistics are only read in evaluation mode, never updated.");
        else
            reasons.Add("the input is empty: the output is empty and no statistic changes.");

        if (decision.UseBatchStatistics)
            reasons.Add("batch statistics are used, so an input with one value per channel is an error.");
        if (decision.Error is not null)
            reasons.Add("nothing changes, because the forward throws.");

        return new ForwardPlan
        {
            Module = ModuleName,
            InputShape = shape.ToArray().Select(l => (long)l).ToArray(),
            Training = Training,
            TrackRunningStats = TrackRunningStats,
            HasRunningStatistics = decision.HasRunningStatistics,
            HasAffineParameters = Weight is not null,
            NormalizeWith = decision.UseBatchStatistics ? StatisticsSource.Batch : StatisticsSource.Running,
            PassesRunningStatistics = decision.PassesRunningStatistics,
            UpdatesRunningStatistics = decision.UpdatesRunningStatistics,
            Averaging = !decision.UpdatesRunningStatistics ? RunningAverage.None : Momentum is null ? RunningAverage.Cumulative : RunningAverage.Exponential,
            Factor = decision.Factor,
            IncrementsCounter = decision.IncrementsCounter,
            CounterAfter = decision.CounterAfter,
            SingleValueCheckApplies = decision.UseBatchStatistics,
            Error = decision.Error,
            Reasons = reasons,
            IneffectiveChanges = IneffectiveChanges(),
        };
    }

    /// <summary>The decision of one forward, without words (see <see cref="ForwardPlan"/> for each field's meaning).</summary>
    private readonly record struct ForwardDecision(
        bool UseBatchStatistics, bool PassesRunningStatistics, bool UpdatesRunningStatistics, double Factor,
        bool IncrementsCounter, long? CounterAfter, bool HasRunningStatistics, string? Error);
}
