using System.Numerics;
using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// State shared by every normalization layer, PyTorch's <c>_NormBase</c>: the hyper-parameters,
/// the learnable <see cref="Weight"/> and <see cref="Bias"/>, the running buffers and the counter,
/// their resets, and the state dict.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <para>What exists is decided once, at construction: <c>affine</c> creates weight (ones) and bias
/// (zeros), shape (C); <c>trackRunningStats</c> creates running_mean (zeros), running_var (ones)
/// and num_batches_tracked (0). The flags themselves stay settable, exactly as in PyTorch, and the
/// forward reads them each time; see <c>Explain</c> for what a change does.</para>
/// <para>Threads: evaluation-mode <c>Forward</c> calls that change nothing may run concurrently on one layer; a
/// training-mode <c>Forward</c>, <c>Backward</c> and <c>LoadStateDict</c> must each run alone on it, and one that
/// overlaps another call on the same layer throws <see cref="InvalidOperationException"/> instead of corrupting the state.
/// Attribute setters, <c>Train</c>/<c>Eval</c> and the resets must not run while a call is in progress on the layer.
/// Separate layers are independent. docs/threading.md has the full table.</para>
/// <para>A float layer also takes float16 and bfloat16 input, PyTorch's mixed precision: <see cref="MixedPrecision"/>'s
/// <c>Forward</c> and <c>Backward</c> extension methods, the same call on another input type.</para>
/// </remarks>
public abstract partial class NormBase<T> : INormModule, ILoadPlanning
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>PyTorch's <c>_version</c> of the normalization layers' state dict.</summary>
    public const int StateDictVersion = 2;

    private const string WeightKey = "weight", BiasKey = "bias", RunningMeanKey = "running_mean",
        RunningVarKey = "running_var", CounterKey = "num_batches_tracked";

    /// <summary>Builds the layer (PyTorch's <c>_NormBase.__init__</c> and <c>reset_parameters</c>).</summary>
    /// <param name="numFeatures">C, the number of channels (dim 1 of the input).</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="momentum">Factor of the running-statistics update; null for the cumulative average.</param>
    /// <param name="affine">Whether to create the learnable weight and bias.</param>
    /// <param name="trackRunningStats">Whether to create the running buffers and the counter.</param>
    protected NormBase(int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats)
    {
        Precision.EnsureSupported<T>();
        ArgumentOutOfRangeException.ThrowIfNegative(numFeatures);
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Affine = affine;
        TrackRunningStats = trackRunningStats;
        if (affine) CreateAffineParameters();
        if (trackRunningStats)
        {
            CreateRunningStatistics();
            NumBatchesTracked = 0;
        }
    }

    /// <summary>
    /// Builds a lazy layer (PyTorch's <c>_LazyNormBase</c>): <see cref="NumFeatures"/> is 0 and the tensors the flags ask
    /// for are created by the first forward (C = the input's size at dim 1) or the first state-dict load. The counter
    /// exists from the start when tracking.
    /// </summary>
    /// <remarks>
    /// <para>Until then <see cref="NumFeatures"/> is 0, <see cref="HasUninitializedParameters"/> is true and the weight,
    /// bias and running buffers the flags ask for are null (PyTorch's uninitialized parameters; <c>StateDict()</c> holds them
    /// as uninitialized entries, <see cref="StateTensor.IsUninitialized"/>); the counter exists from the start when tracking. The first forward creates them (ones, zeros, zeros, ones), then runs as the non-lazy
    /// layer, whose name <see cref="ModuleName"/> takes from then on (PyTorch's <c>cls_to_become</c>). A first forward
    /// that throws leaves the layer uninitialized. Changing Affine or TrackRunningStats before the first forward makes it
    /// fail with "has not been fully initialized", as in PyTorch.</para>
    /// </remarks>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="affine">Whether the first forward creates weight and bias.</param>
    /// <param name="trackRunningStats">Whether the first forward creates the running buffers.</param>
    private protected NormBase(double eps, double? momentum, bool affine, bool trackRunningStats)
    {
        Precision.EnsureSupported<T>();
        Eps = eps;
        Momentum = momentum;
        Affine = affine;
        TrackRunningStats = trackRunningStats;
        pendingAffine = affine;
        pendingRunningStatistics = trackRunningStats;
        InLazyForm = true;
        if (trackRunningStats) NumBatchesTracked = 0;
    }

    /// <summary>C, the number of channels this layer was built for.</summary>
    public int NumFeatures { get; private set; }

    /// <summary>Added to the variance inside the square root; read at every forward.</summary>
    public double Eps { get; set; }

    /// <summary>
    /// Factor of the running-statistics update, read at every forward:
    /// <c>running = (1 - momentum) · running + momentum · batch</c>. Null means the cumulative
    /// average, with factor <c>1 / NumBatchesTracked</c>. (PyTorch's convention, not Keras's decay.)
    /// </summary>
    public double? Momentum { get; set; }

    /// <summary>
    /// The <c>affine</c> flag. Settable, but never read by forward: only whether <see cref="Weight"/>
    /// and <see cref="Bias"/> exist matters, so changing it after construction has no effect on the
    /// output (it does change what <see cref="ResetParameters"/> does, as in PyTorch).
    /// </summary>
    public bool Affine { get; set; }

    /// <summary>
    /// The <c>track_running_stats</c> flag, read at every forward (see <c>Explain</c> for its effect
    /// in each mode). Setting it to true on a layer built without it creates no buffers.
    /// </summary>
    public bool TrackRunningStats { get; set; }

    /// <summary>True in training mode (the default), false in evaluation mode.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>The scale γ, shape (C), or null when built with <c>affine: false</c>.</summary>
    public Parameter<T>? Weight { get; private set; }

    /// <summary>The shift β, shape (C), or null when built with <c>affine: false</c>.</summary>
    public Parameter<T>? Bias { get; private set; }

    /// <summary>The live running mean, shape (C), or null when built with <c>trackRunningStats: false</c>.</summary>
    public Tensor<T>? RunningMean { get; private set; }

    /// <summary>The live running variance (unbiased), shape (C), or null when built without tracking.</summary>
    public Tensor<T>? RunningVar { get; private set; }

    /// <summary>
    /// Training batches seen since the last reset, or null when built without tracking; settable, as PyTorch lets you
    /// assign <c>bn.num_batches_tracked = torch.tensor(5)</c>.
    /// </summary>
    /// <remarks>
    /// <para>The counter is a buffer of its own, as in PyTorch: assigning a number to a layer built without tracking creates it
    /// (PyTorch registers a tensor assigned to its <c>None</c> buffer), and it then appears in the state dict and loads;
    /// assigning null removes it (no key, nothing to increment, and a null <see cref="Momentum"/> then means factor 0, as
    /// PyTorch's forward computes it). The running buffers are not created or removed with it. The value is used as it is:
    /// with a null momentum the next training forward's factor is 1 / (value + 1), and a value of -1 makes that forward fail
    /// as PyTorch's does (<c>float division by zero</c>).</para>
    /// <para>An attribute like <see cref="Eps"/>: set it while no call runs on the layer.</para>
    /// </remarks>
    /// <example><code>bn.NumBatchesTracked = 5;   // PyTorch: bn.num_batches_tracked = torch.tensor(5)</code></example>
    public long? NumBatchesTracked { get; set; }

    /// <summary>The PyTorch class name, e.g. <c>BatchNorm2d</c>.</summary>
    public abstract string ModuleName { get; }

    /// <summary>
    /// True for a lazy layer (<c>LazyBatchNorm2d</c>, <c>LazyInstanceNorm2d</c>, ...) before its first forward or load:
    /// weight, bias and the running buffers it will create do not exist yet and <see cref="NumFeatures"/> is 0
    /// (PyTorch's <c>has_uninitialized_params()</c>).
    /// </summary>
    public bool HasUninitializedParameters => pendingAffine || pendingRunningStatistics;

    /// <summary>The input ranks this layer accepts (PyTorch's <c>_check_input_dim</c>).</summary>
    protected abstract IReadOnlyList<int> AcceptedRanks { get; }

    /// <summary>Normalizes <paramref name="input"/> and updates the running statistics where the layer's rules say so.</summary>
    /// <param name="input">A tensor of a rank this layer accepts, any strides (a layout the kernels cannot read is copied first).</param>
    /// <returns>A new tensor of the input's shape.</returns>
    /// <exception cref="ArgumentException">A check fails (rank, channels, one value per statistic, eps); the message is
    /// PyTorch's, and nothing changed.</exception>
    /// <example>
    /// <code>
    /// var bn = new BatchNorm1d(3);
    /// Tensor&lt;float&gt; y = bn.Forward(Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]));
    /// // bn.NumBatchesTracked == 1; bn.RunningMean == 0.1 * [2.5, 3.5, 4.5]
    /// </code>
    /// </example>
    public Tensor<T> Forward(Tensor<T> input) => RunForward(input, null);

    /// <summary>
    /// <see cref="Forward(Tensor{T})"/> writing into <paramref name="destination"/>: no allocation in steady state.
    /// </summary>
    /// <param name="input">A tensor of a rank this layer accepts.</param>
    /// <param name="destination">The input's lengths, laid out as the output of <see cref="Forward(Tensor{T})"/> would be
    /// (row-major; channels-last for a channels-last input to BatchNorm). It must not share memory with the input (the
    /// layer keeps the input for <c>Backward</c>; <see cref="Functional"/> offers in-place forwards), the parameters or the
    /// running statistics.</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or it shares memory with another
    /// tensor; nothing changed.</exception>
    public void Forward(Tensor<T> input, Tensor<T> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        RunForward(input, destination);
    }

    /// <summary>
    /// The gradient of the loss with respect to the last <see cref="Forward(Tensor{T})"/>'s input, given dy, the gradient
    /// with respect to its output (PyTorch's <c>y.backward(dy)</c> for this layer). Adds Σ dy·x̂ into <c>Weight.Grad</c> and
    /// Σ dy into <c>Bias.Grad</c> (when they exist and require grad), as PyTorch's <c>.grad</c> accumulates.
    /// </summary>
    /// <param name="gradOutput">dy, the shape of the last forward's input.</param>
    /// <returns>dx, a new tensor of the input's shape.</returns>
    /// <remarks>
    /// Uses what that forward saved: its input (do not modify it in between), the statistics it normalized with, and
    /// the weight at that time. With statistics of the input itself (a group of M values: a channel for BatchNorm, a
    /// (sample, channel) plane for InstanceNorm) <c>dx = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))</c>; with running
    /// statistics <c>dx = dy·w·invStd</c> (see <c>Kernels/BatchNormBackward.cs</c>). Calling it again for the same
    /// forward adds the gradients again.
    /// </remarks>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException"><paramref name="gradOutput"/> does not have the input's shape.</exception>
    public Tensor<T> Backward(Tensor<T> gradOutput) => BackwardFromSaved(gradOutput, null)!;

    /// <summary><see cref="Backward(Tensor{T})"/> writing dx into <paramref name="destination"/> (the input's shape and
    /// the layout of the forward's output).</summary>
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
    /// What the next <see cref="Forward(Tensor{T})"/> on an input of this shape will do, and why, without running it or
    /// changing anything (a lazy layer is explained as its first forward would initialize it, and stays uninitialized).
    /// Forward executes this very plan.
    /// </summary>
    /// <param name="inputShape">The input's lengths, e.g. <c>x.Lengths</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A length is negative.</exception>
    public ForwardPlan Explain(ReadOnlySpan<nint> inputShape)
    {
        for (int d = 0; d < inputShape.Length; d++)
            if (inputShape[d] < 0)
                throw new ArgumentOutOfRangeException(nameof(inputShape),
                    $"inputShape has the negative length {inputShape[d]} at dimension {d}: no tensor has that shape.");
        if (!HasUninitializedParameters || !AcceptedRanks.Contains(inputShape.Length)) return PlanFor(inputShape, CurrentTensors);
        if (LazyForwardProblem(inputShape) is string problem) return ExplainCore(inputShape, CurrentTensors) with { Error = problem };
        return PlanFor(inputShape, TensorsAfterInitialization((int)inputShape[1]));
    }

    /// <summary>The forward of this kind of layer, after any lazy initialization: decides, runs the functional op, and keeps
    /// what backward needs in <paramref name="saved"/> (a record of its own, published only when the forward succeeds).
    /// </summary>
    /// <typeparamref name="TInput"/> is the input's and output's element type: T, or Half or BFloat16 on a float layer (mixed
    /// precision; the decision is the same, only the execution differs).
    private protected abstract Tensor<TInput> ForwardCore<TInput>(Tensor<TInput> input, Tensor<TInput>? destination, SavedForward<T> saved)
        where TInput : unmanaged;

    /// <summary>The plan of this kind of layer for an input shape, with the layer's tensors as <paramref name="tensors"/>
    /// describes them (its own, or those a lazy layer's first forward would create).</summary>
    private protected abstract ForwardPlan ExplainCore(ReadOnlySpan<nint> inputShape, LayerTensors tensors);

    /// <summary>Whether a forward on an input of this shape, in the layer's current mode, may change its state (parameters,
    /// buffers, counter): such a forward runs alone on the layer. BatchNorm: in training (or a lazy layer's first forward).
    /// InstanceNorm also in evaluation when it writes its buffers.</summary>
    private protected virtual bool ForwardMayChangeState(ReadOnlySpan<nint> shape) => Training || HasUninitializedParameters;

    /// <summary>The layer's tensors as they are now.</summary>
    private protected LayerTensors CurrentTensors =>
        new(NumFeatures, Weight?.Data.FlattenedLength, Bias?.Data.FlattenedLength, RunningMean?.FlattenedLength, RunningVar?.FlattenedLength);

    /// <summary>Every forward: the call guard, lazy initialization, <see cref="ForwardCore"/>, the saved record. Generic in the
    /// input's element type so that mixed precision (<see cref="MixedPrecision"/>) runs this very code.</summary>
    internal Tensor<TInput> RunForward<TInput>(Tensor<TInput> input, Tensor<TInput>? destination)
        where TInput : unmanaged
    {
        ArgumentNullException.ThrowIfNull(input);
        bool exclusive = ForwardMayChangeState(input.Lengths);
        EnterCall(exclusive, "Forward");
        SavedForward<T>? record = Interlocked.Exchange(ref spareForward, null) ?? new SavedForward<T>();
        bool initialized = false;
        try
        {
            if (HasUninitializedParameters && AcceptedRanks.Contains(input.Rank))
            {
                // PyTorch's lazy pre-hook: C is the input's size at dim 1 (even for an unbatched InstanceNorm input, as in PyTorch).
                if (LazyForwardProblem(input.Lengths) is string problem) throw new InvalidOperationException(problem);
                Initialize((int)input.Lengths[1]);
                initialized = true;
            }

            int split = VirtualBatchSplit(input.Lengths);
            Tensor<TInput> output = split > 0 ? ForwardVirtualBatches(input, destination, record, split) : ForwardCore(input, destination, record);
            if (initialized) ResetLazyHistory();
            InLazyForm = false;
            record = Interlocked.Exchange(ref savedForward, record); // publish; the previous record becomes the spare
            return output;
        }
        catch
        {
            if (initialized) Uninitialize();
            throw;
        }
        finally
        {
            if (record is not null) Volatile.Write(ref spareForward, record);
            ExitCall(exclusive);
        }
    }

    private void CreateAffineParameters()
    {
        // Both allocated before either is assigned: running out of memory leaves the layer as it was.
        var weight = new Parameter<T>(TensorStorage.Filled([NumFeatures], T.One));
        var bias = new Parameter<T>(TensorStorage.Filled([NumFeatures], T.Zero));
        (Weight, Bias) = (weight, bias);
    }

    private void CreateRunningStatistics()
    {
        Tensor<T> mean = TensorStorage.Filled([NumFeatures], T.Zero), variance = TensorStorage.Filled([NumFeatures], T.One);
        (RunningMean, RunningVar) = (mean, variance);
    }

    /// <summary>Sets training mode (<paramref name="mode"/> true) or evaluation mode; returns this layer.</summary>
    public NormBase<T> Train(bool mode = true)
    {
        Training = mode;
        return this;
    }

    /// <summary>Sets evaluation mode, the same as <c>Train(false)</c>; returns this layer.</summary>
    public NormBase<T> Eval() => Train(false);

    /// <summary>
    /// Zeroes running_mean and the counter and fills running_var with 1, when
    /// <see cref="TrackRunningStats"/> is true now; does nothing when it is false (PyTorch reads the
    /// current flag), even if the buffers exist.
    /// </summary>
    /// <exception cref="InvalidOperationException">The flag is true but the layer was built without
    /// buffers (PyTorch: <c>'NoneType' object has no attribute 'zero_'</c>), or is a lazy layer whose buffers
    /// are not created yet.</exception>
    public void ResetRunningStats()
    {
        EnterCall(exclusive: true, "ResetRunningStats");
        try
        {
            ResetRunningStatsAlone();
        }
        finally
        {
            ExitCall(exclusive: true);
        }
    }

    private void ResetRunningStatsAlone()
    {
        if (HasUninitializedParameters && TrackRunningStats)
            throw new InvalidOperationException(
                $"{ModuleName} has not been initialized yet: its running statistics do not exist until the first forward " +
                "(PyTorch: Attempted to use an uninitialized parameter in zero_).");

        EnsureRunningStatsResettable();
        if (!TrackRunningStats) return;
        RunningMean!.Fill(T.Zero);
        RunningVar!.Fill(T.One);
        NumBatchesTracked = 0;
    }

    /// <summary>
    /// <see cref="ResetRunningStats"/>, then, when <see cref="Affine"/> is true now, weight = 1 and bias = 0.
    /// </summary>
    /// <exception cref="InvalidOperationException">A flag is true but its tensors were never created
    /// (PyTorch raises AttributeError); nothing is changed.</exception>
    public void ResetParameters()
    {
        EnterCall(exclusive: true, "ResetParameters");
        try
        {
            ResetParametersAlone();
        }
        finally
        {
            ExitCall(exclusive: true);
        }
    }

    private void ResetParametersAlone()
    {
        if (HasUninitializedParameters) return; // PyTorch's _LazyNormBase.reset_parameters: nothing before initialization
        EnsureRunningStatsResettable();
        if (Affine && Weight is null)
            throw new InvalidOperationException(
                "Affine is true but this layer was built with affine: false, so it has no weight or bias to reset " +
                "(PyTorch: 'NoneType' object has no attribute 'fill_').");
        ResetRunningStatsAlone();
        if (!Affine) return;
        Weight!.Data.Fill(T.One);
        Bias!.Data.Fill(T.Zero);
    }

    /// <summary>
    /// Clears <c>Weight.Grad</c> and <c>Bias.Grad</c>, PyTorch's <c>zero_grad(set_to_none)</c>: with
    /// <paramref name="setToNone"/> true (PyTorch 2.x's default) they become null; with false, a gradient that exists is
    /// zeroed in place (the same tensor, every element 0, through its strides) and a null one stays null.
    /// </summary>
    /// <param name="setToNone">True to set the gradients to null, false to fill the existing ones with zeros.</param>
    /// <example>
    /// <code>
    /// Tensor&lt;float&gt; grad = bn.Weight!.Grad!;
    /// bn.ZeroGrad(setToNone: false);   // grad is still bn.Weight.Grad, now all zeros
    /// bn.ZeroGrad();                   // bn.Weight.Grad is null
    /// </code>
    /// </example>
    public void ZeroGrad(bool setToNone = true)
    {
        foreach (Parameter<T>? parameter in (ReadOnlySpan<Parameter<T>?>)[Weight, Bias])
        {
            if (parameter?.Grad is not Tensor<T> grad) continue;
            if (setToNone) parameter.Grad = null;
            else TensorStorage.FillElements(grad, T.Zero);
        }
    }

    /// <summary>Attribute changes on this instance that the next forward will ignore, in words.</summary>
    private protected virtual List<string> IneffectiveChanges(LayerTensors tensors)
    {
        var changes = new List<string>();
        bool hasAffine = tensors.HasAffineParameters;
        if (Affine != hasAffine)
        {
            changes.Add(hasAffine
                ? "Affine was set to false after construction: no effect, forward still applies weight and bias because they exist."
                : "Affine was set to true after construction: no effect, the layer has no weight or bias to apply.");
        }

        if (TrackRunningStats && !tensors.HasRunningStatistics)
        {
            changes.Add("TrackRunningStats was set to true on a layer built without running statistics: no effect, " +
                        "there are no buffers to update or to normalize with, and no counter.");
        }

        return changes;
    }

    private void EnsureRunningStatsResettable()
    {
        if (!TrackRunningStats) return;
        if (RunningMean is null || RunningVar is null)
            throw new InvalidOperationException(
                "TrackRunningStats is true but this layer was built with trackRunningStats: false, so it has no running " +
                "statistics to reset (PyTorch: 'NoneType' object has no attribute 'zero_').");
        if (NumBatchesTracked is null)
            throw new InvalidOperationException(
                "TrackRunningStats is true but NumBatchesTracked was set to null, so there is no counter to reset (PyTorch: " +
                "'NoneType' object has no attribute 'zero_', after resetting running_mean and running_var; NormSharp resets nothing).");
    }

    /// <summary>The layer as PyTorch prints it, e.g. <c>BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)</c>.</summary>
    public override string ToString() =>
        $"{ModuleName}({NumFeatures}, eps={PythonNumber.Repr(Eps)}, momentum={(Momentum is double m ? PythonNumber.Repr(m) : "None")}, " +
        $"affine={PythonNumber.Repr(Affine)}, track_running_stats={PythonNumber.Repr(TrackRunningStats)})";
}
