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
public abstract class NormBase<T>
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
        if (affine)
        {
            Weight = new Parameter<T>(TensorStorage.Filled([numFeatures], T.One));
            Bias = new Parameter<T>(TensorStorage.Filled([numFeatures], T.Zero));
        }

        if (trackRunningStats)
        {
            RunningMean = TensorStorage.Filled([numFeatures], T.Zero);
            RunningVar = TensorStorage.Filled([numFeatures], T.One);
            NumBatchesTracked = 0;
        }
    }

    /// <summary>C, the number of channels this layer was built for.</summary>
    public int NumFeatures { get; }

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
    public Parameter<T>? Weight { get; }

    /// <summary>The shift β, shape (C), or null when built with <c>affine: false</c>.</summary>
    public Parameter<T>? Bias { get; }

    /// <summary>The live running mean, shape (C), or null when built with <c>trackRunningStats: false</c>.</summary>
    public Tensor<T>? RunningMean { get; }

    /// <summary>The live running variance (unbiased), shape (C), or null when built without tracking.</summary>
    public Tensor<T>? RunningVar { get; }

    /// <summary>Training batches seen since the last reset, or null when built without tracking.</summary>
    public long? NumBatchesTracked { get; private protected set; }

    /// <summary>The PyTorch class name, e.g. <c>BatchNorm2d</c>.</summary>
    public abstract string ModuleName { get; }

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
    /// buffers (PyTorch: <c>'NoneType' object has no attribute 'zero_'</c>).</exception>
    public void ResetRunningStats()
    {
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
        var incoming = stateDict.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        var incomingOrder = stateDict.Keys.ToList();
        if ((stateDict.Version is null || stateDict.Version < StateDictVersion) && TrackRunningStats && !incoming.ContainsKey(CounterKey))
        {
            incoming[CounterKey] = StateTensor.Scalar(0);
            incomingOrder.Add(CounterKey);
        }

        var targets = new List<(string Key, Action<StateTensor> Apply, bool IsCounter)>();
        if (Weight is not null) targets.Add((WeightKey, s => CopyInto(Weight.Data, s), false));
        if (Bias is not null) targets.Add((BiasKey, s => CopyInto(Bias.Data, s), false));
        if (RunningMean is not null) targets.Add((RunningMeanKey, s => CopyInto(RunningMean, s), false));
        if (RunningVar is not null) targets.Add((RunningVarKey, s => CopyInto(RunningVar, s), false));
        if (NumBatchesTracked is not null) targets.Add((CounterKey, s => NumBatchesTracked = s.ToInt64s()[0], true));

        var errors = new List<string>();
        var missing = new List<string>();
        var toApply = new List<(Action<StateTensor> Apply, StateTensor Value)>();
        foreach (var (key, apply, isCounter) in targets)
        {
            if (!incoming.TryGetValue(key, out StateTensor? value))
            {
                missing.Add(key);
                continue;
            }

            bool shapeMatches = isCounter
                ? value.Count == 1 && (value.Shape.Count == 0 || value.Shape is [1])
                : value.Shape.Count == 1 && value.Shape[0] == NumFeatures;
            if (!shapeMatches)
            {
                nint[] modelShape = isCounter ? [] : [NumFeatures];
                errors.Add(TorchMessages.SizeMismatch(key, value.Shape.Select(l => (nint)l).ToArray(), modelShape));
                continue;
            }

            toApply.Add((apply, value));
        }

        var expectedKeys = targets.Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var unexpected = incomingOrder.Where(k => !expectedKeys.Contains(k)).ToList();
        if (strict)
        {
            if (unexpected.Count > 0) errors.Insert(0, TorchMessages.UnexpectedKeys(unexpected));
            if (missing.Count > 0) errors.Insert(0, TorchMessages.MissingKeys(missing));
        }

        if (errors.Count > 0) throw new ArgumentException(TorchMessages.LoadStateDictErrors(ModuleName, errors));
        foreach (var (apply, value) in toApply) apply(value);
        return new LoadStateDictResult(missing, unexpected);
    }

    // What Backward needs from the last successful forward; arrays are reused from call to call.
    private Tensor<T>? savedInput;
    private bool savedBatchStatistics;
    private double[] savedMean = [], savedInvStd = [], savedWeight = [], gradWeight = [], gradBias = [];

    /// <summary>The module's arrays for the per-channel statistics of the next forward (reused, length C).</summary>
    private protected (double[] Mean, double[] InvStd) SavedStatistics(int channels)
    {
        if (savedMean.Length != channels)
        {
            savedMean = new double[channels];
            savedInvStd = new double[channels];
            savedWeight = new double[channels];
            gradWeight = new double[channels];
            gradBias = new double[channels];
        }

        return (savedMean, savedInvStd);
    }

    /// <summary>Keeps what <c>Backward</c> needs from a successful forward: the input as the kernels read it, and the
    /// weight it applied (the statistics are already in the arrays of <see cref="SavedStatistics"/>).</summary>
    private protected void SaveForBackward(Tensor<T> input, bool batchStatistics)
    {
        if (Weight is null) savedWeight.AsSpan().Fill(1.0);
        else
        {
            Span<T> values = TensorStorage.Span(Weight.Data);
            for (int c = 0; c < savedWeight.Length; c++) savedWeight[c] = double.CreateTruncating(values[c]);
        }

        savedInput = input;
        savedBatchStatistics = batchStatistics;
    }

    /// <summary>dx for the saved forward (into <paramref name="destination"/> when given); accumulates the parameter gradients.</summary>
    private protected Tensor<T>? BackwardFromSaved(Tensor<T> gradOutput, Tensor<T>? destination)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        Tensor<T> input = savedInput
            ?? throw new InvalidOperationException($"{ModuleName}.Backward needs a successful Forward first: there is no saved input to differentiate.");
        if (!gradOutput.Lengths.SequenceEqual(input.Lengths))
            throw new ArgumentException($"gradOutput has shape {TorchMessages.FormatShape(gradOutput.Lengths)} but the last Forward's input had shape " +
                                        $"{TorchMessages.FormatShape(input.Lengths)}.", nameof(gradOutput));
        bool weightGradient = Weight is { RequiresGrad: true }, biasGradient = Bias is { RequiresGrad: true };
        Tensor<T>? dx = Functional.BackwardCore(gradOutput, input, savedMean, savedInvStd, savedWeight, savedBatchStatistics, true,
                                                weightGradient ? gradWeight : [], biasGradient ? gradBias : [], destination);
        if (weightGradient) Weight!.Grad = Accumulate(Weight.Grad, gradWeight);
        if (biasGradient) Bias!.Grad = Accumulate(Bias.Grad, gradBias);
        return dx;
    }

    private static Tensor<T> Accumulate(Tensor<T>? grad, double[] addition)
    {
        grad ??= Tensor.CreateFromShape<T>([addition.Length]);
        Span<T> target = TensorStorage.Span(grad);
        for (int i = 0; i < target.Length; i++) target[i] += T.CreateTruncating(addition[i]);
        return grad;
    }

    /// <summary>Attribute changes on this instance that the next forward will ignore, in words.</summary>
    private protected List<string> IneffectiveChanges()
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
