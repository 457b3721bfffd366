using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

// The state dict: PyTorch's keys and order, and loads that are planned in full before anything changes.
public abstract partial class NormBase<T>
{
    /// <summary>
    /// A snapshot of the layer's state under PyTorch's keys, in PyTorch's order: <c>weight</c>,
    /// <c>bias</c>, <c>running_mean</c>, <c>running_var</c>, <c>num_batches_tracked</c> (each only when it
    /// exists; the counter as a 0-dim int64). Its <see cref="StateDict.Version"/> is 2.
    /// </summary>
    /// <remarks>
    /// A lazy layer before its first forward or load writes the tensors its constructor promised as uninitialized entries
    /// (<see cref="StateTensor.IsUninitialized"/>: no shape, no values), as PyTorch's state dict holds its
    /// <c>UninitializedParameter</c> and <c>UninitializedBuffer</c> objects: <c>LazyBatchNorm2d().StateDict()</c> has all five
    /// keys, four of them uninitialized. Such a state dict loads into another uninitialized lazy layer (which stays
    /// uninitialized); loading it into an initialized layer fails as in PyTorch, and it cannot be saved to safetensors.
    /// </remarks>
    public StateDict StateDict()
    {
        var state = new StateDict(StateDictVersion);
        StateDType dtype = typeof(T) == typeof(double) ? StateDType.Float64 : StateDType.Float32;
        if (Weight is not null) state[WeightKey] = StateTensor.FromTensor(Weight.Data);
        else if (pendingAffine) state[WeightKey] = StateTensor.UninitializedParameter(dtype);
        if (Bias is not null) state[BiasKey] = StateTensor.FromTensor(Bias.Data);
        else if (pendingAffine) state[BiasKey] = StateTensor.UninitializedParameter(dtype);
        if (RunningMean is not null) state[RunningMeanKey] = StateTensor.FromTensor(RunningMean);
        else if (pendingRunningStatistics) state[RunningMeanKey] = StateTensor.UninitializedBuffer(dtype);
        if (RunningVar is not null) state[RunningVarKey] = StateTensor.FromTensor(RunningVar);
        else if (pendingRunningStatistics) state[RunningVarKey] = StateTensor.UninitializedBuffer(dtype);
        if (NumBatchesTracked is long counter) state[CounterKey] = StateTensor.Scalar(counter);
        return state;
    }

    /// <summary>
    /// Copies a state dict into the layer, as PyTorch's <c>load_state_dict</c>.
    /// </summary>
    /// <param name="stateDict">The state to load; values are converted to T.</param>
    /// <param name="strict">When true, a missing or unexpected key is an error.</param>
    /// <param name="validate">When true, the running statistics are checked before anything changes: a running_var entry below
    /// zero, or a running_mean or running_var entry that is NaN or infinite (as stored, or once converted to T), is an error
    /// naming the key, the channel and the value. False (PyTorch, which loads any value) by default.</param>
    /// <returns>The keys that did not match (both empty after a strict load).</returns>
    /// <remarks>
    /// A state dict of version &lt; 2 or without a version (a hand-built one) that lacks
    /// <c>num_batches_tracked</c> loads into a tracking layer with the counter set to 0. The version is
    /// <c>stateDict.VersionOf("")</c>: <see cref="StateDict.Version"/>, or the root's entry of
    /// <see cref="StateDict.ModuleVersions"/> when the state dict carries PyTorch's per-module versions. A counter
    /// stored with shape [1] loads as the scalar; one stored as a float loads as its integer part.
    /// An uninitialized entry (a lazy layer's state dict before its first forward) matches the tensor it names in a lazy
    /// layer that is still uninitialized, which stays so; loaded into a tensor that exists, it fails with PyTorch's
    /// <c>Can't access the shape of an uninitialized parameter or buffer. ...</c> (raised at once, as PyTorch raises it,
    /// before any list of key errors).
    /// </remarks>
    /// <exception cref="ArgumentException">Shapes differ, (strict) keys are missing or unexpected, or an uninitialized entry
    /// meets a tensor that exists, or (<paramref name="validate"/>) a running statistic is negative or not finite; the message
    /// lists the key errors by name as PyTorch does, then each bad channel, and nothing is changed.</exception>
    /// <example><code>bn.LoadStateDict(state, validate: true);   // a NaN or negative running_var entry is refused, by channel</code></example>
    public LoadStateDictResult LoadStateDict(StateDict stateDict, bool strict = true, bool validate = false)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        EnterCall(exclusive: true, "LoadStateDict");
        try
        {
            LoadPlan plan = PlanLoad(stateDict, strict, "", validate);
            if (plan.Errors.Count > 0) throw new ArgumentException(TorchMessages.LoadStateDictErrors(ModuleName, plan.Errors));
            WarnBeforeApply(plan);
            ApplyLoad(plan);
            return new LoadStateDictResult(plan.Missing, plan.Unexpected);
        }
        finally
        {
            ExitCall(exclusive: true);
        }
    }

    /// <summary>Hook for the kind of layer: keys of <paramref name="incoming"/> to leave out of the load before it is matched
    /// (InstanceNorm drops running statistics it does not track); called only when the whole load will proceed.</summary>
    private protected virtual IReadOnlyList<string> KeysToDrop(IReadOnlyDictionary<string, StateTensor> incoming) => [];

    /// <summary>Called before a load that will drop <paramref name="dropped"/> (see <see cref="KeysToDrop"/>) is applied, so that
    /// a warning handler that throws stops the load before anything changed.</summary>
    private protected virtual void OnKeysDropped(IReadOnlyList<string> dropped)
    {
    }

    LoadPlan ILoadPlanning.PlanLoad(StateDict stateDict, bool strict, string prefix, bool validate) => PlanLoad(stateDict, strict, prefix, validate);

    void ILoadPlanning.WarnBeforeApply(LoadPlan plan) => WarnBeforeApply(plan);

    void ILoadPlanning.ApplyLoad(LoadPlan plan) => ApplyLoad(plan);

    /// <summary>Raises the warnings of a plan without errors (dropped keys), before anything is applied.</summary>
    internal void WarnBeforeApply(LoadPlan plan)
    {
        if (plan.Dropped.Count > 0) OnKeysDropped(plan.Dropped);
    }

    /// <summary>
    /// Everything a load would do, decided without changing anything: the keys that would be missing and unexpected, the
    /// errors (size mismatches always; missing and unexpected keys when <paramref name="strict"/>, first, as PyTorch lists
    /// them), the values to copy, and, for a lazy layer, the C its tensors would be created with (from the checkpoint's shapes).
    /// </summary>
    /// <param name="stateDict">The state to load.</param>
    /// <param name="strict">Whether missing and unexpected keys are errors.</param>
    /// <param name="prefix">Put before key names in error lines (a collection's module name and a dot).</param>
    /// <param name="validate">Whether negative or non-finite running statistics are errors (one line per bad channel).</param>
    internal LoadPlan PlanLoad(StateDict stateDict, bool strict, string prefix, bool validate = false)
    {
        var incoming = stateDict.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        var incomingOrder = stateDict.Keys.ToList();
        IReadOnlyList<string> dropped = KeysToDrop(incoming);
        foreach (string key in dropped)
        {
            incoming.Remove(key);
            incomingOrder.Remove(key);
        }

        // The layer is the root of what it loads, so its version is the root's ("" in PyTorch's _metadata).
        int? version = stateDict.VersionOf("");
        if ((version is null || version < StateDictVersion) && TrackRunningStats && !incoming.ContainsKey(CounterKey))
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
                .FirstOrDefault(t => t is { IsUninitialized: false, Shape.Count: 1 } && t.Shape[0] <= int.MaxValue);
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

            if (value.IsUninitialized)
            {
                // PyTorch's _load_from_state_dict skips its checks for a lazy (uninitialized) destination and copies nothing
                // that matters; any other destination reads the entry's shape, which raises at once.
                bool destinationUninitialized = !isCounter && IsPending(key);
                if (!destinationUninitialized) throw new ArgumentException(TorchMessages.UninitializedShape);
                if (initializeWith is not null)
                    errors.Add($"cannot load {prefix}{key}: it is uninitialized while the other tensors initialize this lazy layer " +
                               $"with {initializeWith} features (PyTorch would leave the layer partly initialized; a NormSharp layer has " +
                               "all its tensors or none).");
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

            if (validate && key is RunningMeanKey or RunningVarKey) errors.AddRange(InvalidStatistics(prefix + key, value, key == RunningVarKey));
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

    /// <summary>The load-time check of one running statistic: a line per channel whose value is NaN or infinite (as stored, or
    /// once converted to T), or, for running_var, below zero.</summary>
    private static IEnumerable<string> InvalidStatistics(string key, StateTensor value, bool variance)
    {
        double[] values = value.ToDoubles();
        for (int c = 0; c < values.Length; c++)
        {
            double v = values[c];
            string? why = !double.IsFinite(v) ? "is not finite"
                : !T.IsFinite(T.CreateTruncating(v)) ? $"is not finite as {typeof(T).Name}"
                : variance && v < 0 ? "is negative (a variance cannot be)"
                : null;
            if (why is not null)
                yield return $"invalid value for {key}: channel {c} = {v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} {why}.";
        }
    }

    /// <summary>Whether <paramref name="key"/> names a tensor this lazy layer promised and has not created yet.</summary>
    private bool IsPending(string key) => key is WeightKey or BiasKey ? pendingAffine : pendingRunningStatistics;

    /// <summary>Carries out a plan of <see cref="PlanLoad"/> that has no errors (its warnings already raised).</summary>
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
    }

    private static void CopyInto(Tensor<T> destination, StateTensor source)
    {
        double[] values = source.ToDoubles();
        Span<T> target = TensorStorage.Span(destination);
        for (int i = 0; i < target.Length; i++) target[i] = T.CreateTruncating(values[i]);
    }
}
