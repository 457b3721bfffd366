using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Errors;

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
/// </remarks>
public abstract class NormBase<T> : INormModule, ILoadPlanning
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

    /// <summary>Training batches seen since the last reset, or null when built without tracking.</summary>
    public long? NumBatchesTracked { get; private protected set; }

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
    /// (row-major; channels-last for a channels-last input to BatchNorm).</param>
    /// <exception cref="ArgumentException">A check fails (nothing changed), or the destination does not fit.</exception>
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
    /// changing anything. Forward executes this very plan.
    /// </summary>
    /// <param name="inputShape">The input's lengths, e.g. <c>x.Lengths</c>.</param>
    public ForwardPlan Explain(ReadOnlySpan<nint> inputShape)
    {
        if (!HasUninitializedParameters || !AcceptedRanks.Contains(inputShape.Length)) return ExplainCore(inputShape);
        if (InitializationProblem() is string problem) return ExplainCore(inputShape) with { Error = problem };
        Initialize((int)inputShape[1]);
        try
        {
            return ExplainCore(inputShape);
        }
        finally
        {
            Uninitialize();
        }
    }

    /// <summary>The forward of this kind of layer, after any lazy initialization; returns the output.</summary>
    private protected abstract Tensor<T> ForwardCore(Tensor<T> input, Tensor<T>? destination);

    /// <summary>The plan of this kind of layer for an input shape.</summary>
    private protected abstract ForwardPlan ExplainCore(ReadOnlySpan<nint> inputShape);

    private Tensor<T> RunForward(Tensor<T> input, Tensor<T>? destination)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!HasUninitializedParameters || !AcceptedRanks.Contains(input.Rank))
        {
            Tensor<T> result = ForwardCore(input, destination);
            InLazyForm = false;
            return result;
        }

        // PyTorch's lazy pre-hook: C is the input's size at dim 1 (even for an unbatched InstanceNorm input, as in PyTorch).
        Initialize((int)input.Lengths[1]);
        try
        {
            Tensor<T> output = ForwardCore(input, destination);
            ResetLazyHistory();
            InLazyForm = false;
            return output;
        }
        catch
        {
            Uninitialize();
            throw;
        }
    }

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
    /// flag was changed before the first forward so that the layer cannot be fully initialized, as PyTorch fails then.
    /// </summary>
    private void Initialize(int numFeatures)
    {
        string? problem = InitializationProblem();
        if (problem is not null) throw new InvalidOperationException(problem);
        bool affineNow = Affine && pendingAffine, statisticsNow = TrackRunningStats && pendingRunningStatistics;
        NumFeatures = numFeatures;
        if (affineNow) CreateAffineParameters();
        if (statisticsNow) CreateRunningStatistics();
        (lazyCreatedAffine, lazyCreatedRunningStatistics) = (affineNow, statisticsNow);
        pendingAffine = pendingRunningStatistics = false;
    }

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

    private void CreateAffineParameters()
    {
        Weight = new Parameter<T>(TensorStorage.Filled([NumFeatures], T.One));
        Bias = new Parameter<T>(TensorStorage.Filled([NumFeatures], T.Zero));
    }

    private void CreateRunningStatistics()
    {
        RunningMean = TensorStorage.Filled([NumFeatures], T.Zero);
        RunningVar = TensorStorage.Filled([NumFeatures], T.One);
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
        if (HasUninitializedParameters) return; // PyTorch's _LazyNormBase.reset_parameters: nothing before initialization
        EnsureRunningStatsResettable();
        if (Affine && Weight is null)
            throw new InvalidOperationException(
                "Affine is true but this layer was built with affine: false, so it has no weight or bias to reset " +
                "(PyTorch: 'NoneType' object has no attribute 'fill_').");
        ResetRunningStats();
        if (!Affine) return;
        Weight!.Data.Fill(T.One);
        Bias!.Data.Fill(T.Zero);
    }

    /// <summary>Clears <c>Weight.Grad</c> and <c>Bias.Grad</c> (PyTorch's <c>zero_grad()</c>, which sets them to None).</summary>
    public void ZeroGrad()
    {
        if (Weight is not null) Weight.Grad = null;
        if (Bias is not null) Bias.Grad = null;
    }

    /// <summary>
    /// A snapshot of the layer's state under PyTorch's keys, in PyTorch's order: <c>weight</c>,
    /// <c>bias</c>, <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c> (each only when it
    /// exists; the counter as a 0-dim int64). Its <see cref="StateDict.Version"/> is 2.
    /// </summary>
    public StateDict StateDict()
    {
        var state = new StateDict(StateDictVersion);
        if (Weight is not null) state[WeightKey] = StateTensor.FromTensor(Weight.Data);
        if (Bias is not null) state[BiasKey] = StateTensor.FromTensor(Bias.Data);
        if (RunningMean is not null) state[RunningMeanKey] = StateTensor.FromTensor(RunningMean);
        if (RunningVar is not null) state[RunningVarKey] = StateTensor.FromTensor(RunningVar);
        if (NumBatchesTracked is long counter) state[CounterKey] = StateTensor.Scalar(counter);
        return state;
    }

    /// <summary>
    /// Copies a state dict into the layer, as PyTorch's <c>load_state_dict</c>.
    /// </summary>
    /// <param name="stateDict">The state to load; values are converted to T.</param>
    /// <param name="strict">When true, a missing or unexpected key is an error.</param>
    /// <returns>The keys that did not match (both empty after a strict load).</returns>
    /// <remarks>
    /// A state dict of version &lt; 2 or without a version (a hand-built one) that lacks
    /// <c>num_batches_tracked</c> loads into a tracking layer with the counter set to 0. A counter
    /// stored with shape [1] loads as the scalar; one stored as a float loads as its integer part.
    /// </remarks>
    /// <exception cref="ArgumentException">Shapes differ, or (strict) keys are missing or unexpected;
    /// the message lists them by name as PyTorch does, and nothing is changed.</exception>
    public LoadStateDictResult LoadStateDict(StateDict stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        LoadPlan plan = PlanLoad(stateDict, strict, "");
        if (plan.Errors.Count > 0) throw new ArgumentException(TorchMessages.LoadStateDictErrors(ModuleName, plan.Errors));
        ApplyLoad(plan);
        return new LoadStateDictResult(plan.Missing, plan.Unexpected);
    }

    /// <summary>Hook for the kind of layer: keys of <paramref name="incoming"/> to leave out of the load before it is matched
    /// (InstanceNorm drops running statistics it does not track); called only when the whole load will proceed.</summary>
    private protected virtual IReadOnlyList<string> KeysToDrop(IReadOnlyDictionary<string, StateTensor> incoming) => [];

    /// <summary>Called after a successful load that dropped <paramref name="dropped"/> (see <see cref="KeysToDrop"/>).</summary>
    private protected virtual void OnKeysDropped(IReadOnlyList<string> dropped)
    {
    }

    LoadPlan ILoadPlanning.PlanLoad(StateDict stateDict, bool strict, string prefix) => PlanLoad(stateDict, strict, prefix);

    void ILoadPlanning.ApplyLoad(LoadPlan plan) => ApplyLoad(plan);

    /// <summary>
    /// Everything a load would do, decided without changing anything: the keys that would be missing and unexpected, the
    /// errors (size mismatches always; missing and unexpected keys when <paramref name="strict"/>, first, as PyTorch lists
    /// them), the values to copy, and, for a lazy layer, the C its tensors would be created with (from the checkpoint's shapes).
    /// </summary>
    /// <param name="stateDict">The state to load.</param>
    /// <param name="strict">Whether missing and unexpected keys are errors.</param>
    /// <param name="prefix">Put before key names in error lines (a collection's module name and a dot).</param>
    internal LoadPlan PlanLoad(StateDict stateDict, bool strict, string prefix)
    {
        var incoming = stateDict.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        var incomingOrder = stateDict.Keys.ToList();
        IReadOnlyList<string> dropped = KeysToDrop(incoming);
        foreach (string key in dropped)
        {
            incoming.Remove(key);
            incomingOrder.Remove(key);
        }

        if ((stateDict.Version is null || stateDict.Version < StateDictVersion) && TrackRunningStats && !incoming.ContainsKey(CounterKey))
        {
            incoming[CounterKey] = StateTensor.Scalar(0);
            incomingOrder.Add(CounterKey);
        }

        var errors = new List<string>();
        int numFeatures = NumFeatures;
        int? initializeWith = null;
        bool hasAffine = Weight is not null, hasStatistics = RunningMean is not null;
        if (HasUninitializedParameters)
        {
            // A lazy layer takes C from the checkpoint (PyTorch's LazyModuleMixin load hook materializes from its shapes).
            StateTensor? shaped = new[] { WeightKey, BiasKey, RunningMeanKey, RunningVarKey }
                .Select(k => incoming.TryGetValue(k, out StateTensor? t) ? t : null)
                .FirstOrDefault(t => t is { Shape.Count: 1 } && t.Shape[0] <= int.MaxValue);
            hasAffine |= pendingAffine;
            hasStatistics |= pendingRunningStatistics;
            if (shaped is not null)
            {
                string? problem = InitializationProblem();
                if (problem is not null) errors.Add(problem);
                numFeatures = (int)shaped.Shape[0];
                initializeWith = numFeatures;
                hasAffine = Weight is not null || (Affine && pendingAffine);
                hasStatistics = RunningMean is not null || (TrackRunningStats && pendingRunningStatistics);
            }
        }

        var targets = new List<(string Key, bool IsCounter)>();
        if (hasAffine) targets.AddRange([(WeightKey, false), (BiasKey, false)]);
        if (hasStatistics) targets.AddRange([(RunningMeanKey, false), (RunningVarKey, false)]);
        if (NumBatchesTracked is not null) targets.Add((CounterKey, true));

        var missing = new List<string>();
        var toApply = new List<(string Key, StateTensor Value)>();
        foreach (var (key, isCounter) in targets)
        {
            if (!incoming.TryGetValue(key, out StateTensor? value))
            {
                missing.Add(key);
                continue;
            }

            bool shapeMatches = isCounter
                ? value.Count == 1 && (value.Shape.Count == 0 || value.Shape is [1])
                : value.Shape.Count == 1 && value.Shape[0] == numFeatures && (initializeWith is not null || !HasUninitializedParameters);
            if (!shapeMatches)
            {
                nint[] modelShape = isCounter ? [] : [numFeatures];
                errors.Add(TorchMessages.SizeMismatch(prefix + key, value.Shape.Select(l => (nint)l).ToArray(), modelShape));
                continue;
            }

            toApply.Add((key, value));
        }

        var expectedKeys = targets.Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var unexpected = incomingOrder.Where(k => !expectedKeys.Contains(k)).ToList();
        if (strict)
        {
            if (unexpected.Count > 0) errors.Insert(0, TorchMessages.UnexpectedKeys(unexpected));
            if (missing.Count > 0) errors.Insert(0, TorchMessages.MissingKeys(missing));
        }

        return new LoadPlan(errors, missing, unexpected, toApply, dropped, initializeWith);
    }

    /// <summary>Carries out a plan of <see cref="PlanLoad"/> that has no errors.</summary>
    internal void ApplyLoad(LoadPlan plan)
    {
        if (plan.InitializeWith is int numFeatures)
        {
            Initialize(numFeatures);
            ResetLazyHistory();
            InLazyForm = false;
        }

        foreach (var (key, value) in plan.Values)
        {
            switch (key)
            {
                case WeightKey: CopyInto(Weight!.Data, value); break;
                case BiasKey: CopyInto(Bias!.Data, value); break;
                case RunningMeanKey: CopyInto(RunningMean!, value); break;
                case RunningVarKey: CopyInto(RunningVar!, value); break;
                default: NumBatchesTracked = value.ToInt64s()[0]; break;
            }
        }

        if (plan.Dropped.Count > 0) OnKeysDropped(plan.Dropped);
    }

    // What Backward needs from the last successful forward; arrays are reused from call to call. A "group" is the set
    // of values one statistic is taken over: a channel (BatchNorm) or a (sample, channel) plane (InstanceNorm).
    private Tensor<T>? savedInput;
    private NormLayout? savedLayout;
    private nint[] savedShape = [];
    private bool savedBatchStatistics;
    private double[] savedMean = [], savedInvStd = [], savedWeight = [], gradWeight = [], gradBias = [];

    /// <summary>The module's arrays for the per-group statistics of the next forward (reused, length = groups).</summary>
    private protected (double[] Mean, double[] InvStd) SavedStatistics(int groups)
    {
        if (savedMean.Length != groups)
        {
            savedMean = new double[groups];
            savedInvStd = new double[groups];
            savedWeight = new double[groups];
            gradWeight = new double[groups];
            gradBias = new double[groups];
        }

        return (savedMean, savedInvStd);
    }

    /// <summary>Keeps what <c>Backward</c> needs from a successful forward: the input as the kernels read it (an (N, G, *)
    /// view whose G groups take weight index g mod C), the caller's input shape, and the weight applied.</summary>
    private protected void SaveForBackward(Tensor<T> kernelInput, ReadOnlySpan<nint> inputShape, bool batchStatistics,
                                           NormLayout? groupedLayout = null)
    {
        savedLayout = groupedLayout;
        if (Weight is null) savedWeight.AsSpan().Fill(1.0);
        else
        {
            Span<T> values = TensorStorage.Span(Weight.Data);
            for (int g = 0; g < savedWeight.Length; g++) savedWeight[g] = double.CreateTruncating(values[g % values.Length]);
        }

        if (savedShape.Length != inputShape.Length) savedShape = new nint[inputShape.Length];
        inputShape.CopyTo(savedShape);
        savedInput = kernelInput;
        savedBatchStatistics = batchStatistics;
    }

    /// <summary>dx for the saved forward (into <paramref name="destination"/> when given); accumulates the parameter gradients.</summary>
    private protected Tensor<T>? BackwardFromSaved(Tensor<T> gradOutput, Tensor<T>? destination)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        Tensor<T> input = savedInput
            ?? throw new InvalidOperationException($"{ModuleName}.Backward needs a successful Forward first: there is no saved input to differentiate.");
        if (!gradOutput.Lengths.SequenceEqual(savedShape))
            throw new ArgumentException($"gradOutput has shape {TorchMessages.FormatShape(gradOutput.Lengths)} but the last Forward's input had shape " +
                                        $"{TorchMessages.FormatShape(savedShape)}.", nameof(gradOutput));
        if (savedLayout is not null)
        {
            // InstanceNorm: row-major memory read as (1, N·C, *) planes; dy and dx are read and written the same way.
            gradOutput = TensorStorage.RowMajor(gradOutput);
            if (destination is not null && !TensorStorage.IsRowMajor(destination))
                throw new ArgumentException($"destination must be a row-major tensor of shape {TorchMessages.FormatShape(savedShape)}.", nameof(destination));
        }

        bool weightGradient = Weight is { RequiresGrad: true }, biasGradient = Bias is { RequiresGrad: true };
        Tensor<T>? dx = Functional.BackwardCore(gradOutput, input, savedMean, savedInvStd, savedWeight, savedBatchStatistics, true,
                                                weightGradient ? gradWeight : [], biasGradient ? gradBias : [], destination, savedLayout);
        if (weightGradient) Weight!.Grad = Accumulate(Weight.Grad, gradWeight, NumFeatures);
        if (biasGradient) Bias!.Grad = Accumulate(Bias.Grad, gradBias, NumFeatures);
        return dx;
    }

    /// <summary>Adds the per-group gradients into the (C) gradient, group g into channel g mod C.</summary>
    private static Tensor<T> Accumulate(Tensor<T>? grad, double[] addition, int channels)
    {
        grad ??= Tensor.CreateFromShape<T>([channels]);
        Span<T> target = TensorStorage.Span(grad);
        for (int c = 0; c < target.Length; c++)
        {
            double sum = 0;
            for (int g = c; g < addition.Length; g += target.Length) sum += addition[g];
            target[c] += T.CreateTruncating(sum);
        }

        return grad;
    }

    /// <summary>Attribute changes on this instance that the next forward will ignore, in words.</summary>
    private protected virtual List<string> IneffectiveChanges()
    {
        var changes = new List<string>();
        bool hasAffine = Weight is not null;
        if (Affine != hasAffine)
        {
            changes.Add(hasAffine
                ? "Affine was set to false after construction: no effect, forward still applies weight and bias because they exist."
                : "Affine was set to true after construction: no effect, the layer has no weight or bias to apply.");
        }

        if (TrackRunningStats && RunningMean is null && RunningVar is null)
        {
            changes.Add("TrackRunningStats was set to true on a layer built without running statistics: no effect, " +
                        "there are no buffers to update or to normalize with, and no counter.");
        }

        return changes;
    }

    private void EnsureRunningStatsResettable()
    {
        if (TrackRunningStats && (RunningMean is null || RunningVar is null || NumBatchesTracked is null))
            throw new InvalidOperationException(
                "TrackRunningStats is true but this layer was built with trackRunningStats: false, so it has no running " +
                "statistics to reset (PyTorch: 'NoneType' object has no attribute 'zero_').");
    }

    private static void CopyInto(Tensor<T> destination, StateTensor source)
    {
        double[] values = source.ToDoubles();
        Span<T> target = TensorStorage.Span(destination);
        for (int i = 0; i < target.Length; i++) target[i] = T.CreateTruncating(values[i]);
    }
}
