using System.Globalization;

namespace NormSharp;

// The statistics policies: explicit opt-ins against what PyTorch's statistics do that nobody asked for. Every
// default is PyTorch's behaviour. The policies are runtime settings: the state dict does not carry them (PyTorch's
// load_state_dict would reject an extra key), so a checkpoint stays loadable by PyTorch and a loaded layer keeps its own.
public abstract partial class NormBase<T> : IStatisticsPolicies
{
    void IStatisticsPolicies.SetPolicies(bool? freezeStatistics, bool? freezeParameters, SmallBatchPolicy? smallBatch,
                                         EmptyBatchPolicy? emptyBatch, NonFinitePolicy? nonFinite, int? virtualBatchSize)
    {
        VirtualBatchSize = virtualBatchSize ?? VirtualBatchSize;
        FreezeStatistics = freezeStatistics ?? FreezeStatistics;
        FreezeParameters = freezeParameters ?? FreezeParameters;
        SmallBatchPolicy = smallBatch ?? SmallBatchPolicy;
        EmptyBatchPolicy = emptyBatch ?? EmptyBatchPolicy;
        NonFinitePolicy = nonFinite ?? NonFinitePolicy;
    }

    private SmallBatchPolicy smallBatchPolicy;
    private EmptyBatchPolicy emptyBatchPolicy;
    private NonFinitePolicy nonFinitePolicy;

    /// <summary>
    /// Frozen statistics (torchvision's <c>FrozenBatchNorm2d</c>, mmdetection's <c>norm_eval</c>, but switchable): every
    /// forward normalizes with running_mean and running_var and never updates them, in training too; the counter does not move;
    /// <see cref="Train"/> and <see cref="Eval"/> do not change it. <c>Backward</c> in training then uses the running-statistics
    /// formula <c>dx = dy·w·invStd</c>. False (PyTorch's behaviour) by default. A layer without running statistics cannot freeze
    /// them: its forward throws (with nothing changed). Runtime only: not in the state dict.
    /// </summary>
    /// <example><code>bn.FreezeStatistics = true; bn.Train();   // still normalizes with the running statistics, never updates them</code></example>
    public bool FreezeStatistics { get; set; }

    /// <summary>
    /// Frozen parameters: <c>Backward</c> adds nothing to <c>Weight.Grad</c> and <c>Bias.Grad</c> (whatever their
    /// <c>RequiresGrad</c>) and still returns dx. Read by each forward and kept with it, so the backward of a forward follows
    /// the setting that forward saw. False by default. Runtime only: not in the state dict.
    /// </summary>
    public bool FreezeParameters { get; set; }

    /// <summary>
    /// What a forward whose input statistics would have one value each does (BatchNorm: one value per channel; InstanceNorm:
    /// one spatial value per plane), in training and in evaluation without running statistics:
    /// <see cref="NormSharp.SmallBatchPolicy.Error"/> (PyTorch, the default) or
    /// <see cref="NormSharp.SmallBatchPolicy.UseRunningStatistics"/> (normalize with the running statistics, update nothing,
    /// the counter does not move). A SyncBatchNorm forward over several processes keeps PyTorch's error: only the exchange
    /// knows the whole batch's count. Runtime only: not in the state dict.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined member; nothing changes.</exception>
    public SmallBatchPolicy SmallBatchPolicy
    {
        get => smallBatchPolicy;
        set => smallBatchPolicy = Defined(value, nameof(SmallBatchPolicy));
    }

    /// <summary>
    /// What a forward on an input without values does to the running statistics and the counter:
    /// <see cref="NormSharp.EmptyBatchPolicy.PyTorch"/> (the default: BatchNorm counts the empty batch, InstanceNorm's N = 0
    /// makes its buffers NaN) or <see cref="NormSharp.EmptyBatchPolicy.SkipUpdate"/> (both unchanged). Runtime only.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined member; nothing changes.</exception>
    public EmptyBatchPolicy EmptyBatchPolicy
    {
        get => emptyBatchPolicy;
        set => emptyBatchPolicy = Defined(value, nameof(EmptyBatchPolicy));
    }

    /// <summary>
    /// What a forward normalizing with input statistics does when they are not finite in some channel:
    /// <see cref="NormSharp.NonFinitePolicy.Propagate"/> (PyTorch, the default),
    /// <see cref="NormSharp.NonFinitePolicy.SkipUpdate"/> (no running statistic or counter changes; a
    /// <see cref="NormWarnings"/> warning names the layer and the channels) or <see cref="NormSharp.NonFinitePolicy.Throw"/>
    /// (an <see cref="ArgumentException"/> names the channels; nothing changes). A statistic is not finite when the mean is
    /// NaN or infinite or the variance is NaN or infinite. Runtime only.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined member; nothing changes.</exception>
    public NonFinitePolicy NonFinitePolicy
    {
        get => nonFinitePolicy;
        set => nonFinitePolicy = Defined(value, nameof(NonFinitePolicy));
    }

    private static TEnum Defined<TEnum>(TEnum value, string name) where TEnum : struct, Enum =>
        Enum.IsDefined(value) ? value
            : throw new ArgumentOutOfRangeException(name, value,
                $"{value} is not a {typeof(TEnum).Name}; expected one of: {string.Join(", ", Enum.GetNames<TEnum>())}.");

    /// <summary>Copies the policies onto <paramref name="twin"/> (element-type conversion).</summary>
    private protected void CopyPoliciesTo<TOther>(NormBase<TOther> twin) where TOther : unmanaged, System.Numerics.IFloatingPointIeee754<TOther>
    {
        (twin.FreezeStatistics, twin.FreezeParameters) = (FreezeStatistics, FreezeParameters);
        (twin.smallBatchPolicy, twin.emptyBatchPolicy, twin.nonFinitePolicy) = (smallBatchPolicy, emptyBatchPolicy, nonFinitePolicy);
        twin.VirtualBatchSize = VirtualBatchSize;
    }

    /// <summary>The error of a forward that must normalize with running statistics the layer does not have (FreezeStatistics).</summary>
    private protected string FrozenWithoutRunningStatistics =>
        $"{ModuleName} has FreezeStatistics = true but no running statistics to normalize with (built with trackRunningStats: false): " +
        "set FreezeStatistics = false, or build the layer with running statistics.";

    /// <summary>The sentence added to PyTorch's one-value error when <see cref="NormSharp.SmallBatchPolicy.UseRunningStatistics"/>
    /// could not apply.</summary>
    private protected const string SmallBatchWithoutRunningStatistics =
        " (SmallBatchPolicy.UseRunningStatistics cannot apply: the layer has no running statistics.)";

    /// <summary>Before a forward guarded against non-finite statistics: a copy of the running buffers (empty without them).</summary>
    private protected (T[] Mean, T[] Var) SnapshotRunningStatistics() =>
        (RunningMean is null ? [] : TensorStorage.Span(RunningMean).ToArray(), RunningVar is null ? [] : TensorStorage.Span(RunningVar).ToArray());

    /// <summary>
    /// After a guarded forward: the channels whose statistics were not finite (group g is channel g mod C), ascending. A
    /// group's statistic is not finite when its mean is, or when invStd = 1/sqrt(var + eps) is NaN or 0 (an infinite variance).
    /// </summary>
    private protected static List<int> NonFiniteChannels(ReadOnlySpan<double> mean, ReadOnlySpan<double> invStd, int channels)
    {
        var bad = new SortedSet<int>();
        for (int g = 0; g < mean.Length; g++)
            if (!double.IsFinite(mean[g]) || double.IsNaN(invStd[g]) || invStd[g] == 0) bad.Add(g % Math.Max(1, channels));
        return [.. bad];
    }

    /// <summary>
    /// Applies <see cref="NonFinitePolicy"/> after a forward whose statistics had <paramref name="channels"/> not finite:
    /// restores the running buffers from <paramref name="snapshot"/>, then throws (<see cref="NormSharp.NonFinitePolicy.Throw"/>)
    /// or warns. Returns true when the update was skipped (the counter must not move).
    /// </summary>
    private protected bool ApplyNonFiniteGuard(List<int> channels, (T[] Mean, T[] Var) snapshot)
    {
        if (channels.Count == 0) return false;
        if (RunningMean is not null) snapshot.Mean.CopyTo(TensorStorage.Span(RunningMean));
        if (RunningVar is not null) snapshot.Var.CopyTo(TensorStorage.Span(RunningVar));
        string list = string.Join(", ", channels.Select(c => c.ToString(CultureInfo.InvariantCulture)));
        string which = channels.Count == 1 ? $"channel {list}" : $"channels {list}";
        if (NonFinitePolicy == NonFinitePolicy.Throw)
            throw new ArgumentException($"{ModuleName}: the batch statistics of {which} are not finite (NaN or infinite); " +
                                        "NonFinitePolicy.Throw: nothing changed.");
        NormWarnings.Warn(this, ModuleName, $"{ModuleName}: the batch statistics of {which} are not finite (NaN or infinite); " +
                                            "NonFinitePolicy.SkipUpdate: the running statistics and the counter were not updated.");
        return true;
    }

    /// <summary>The policies' part of a plan's reasons: which policy applied in this forward, and why.</summary>
    private protected void AddPolicyReasons(List<string> reasons, ForwardDecision decision)
    {
        if (decision.StatisticsFrozen)
            reasons.Add("FreezeStatistics = true: running_mean and running_var normalize the input and are never updated, in training " +
                        "too; the counter does not move" + (Training ? "; Backward uses the running-statistics formula dx = dy·w·invStd." : "."));
        if (decision.SmallBatch)
            reasons.Add("one value per " + (this is BatchNorm<T> ? "channel" : "plane") + " and SmallBatchPolicy = UseRunningStatistics: " +
                        "running_mean and running_var normalize the input instead of PyTorch's error; nothing is updated and the counter does not move.");
        if (decision.EmptySkipped)
            reasons.Add("the input has no values and EmptyBatchPolicy = SkipUpdate: the running statistics and the counter stay as they are.");
        if (decision.NonFiniteGuard is NonFinitePolicy.SkipUpdate)
            reasons.Add("NonFinitePolicy = SkipUpdate: if a channel's batch statistics are not finite, no running statistic and not the " +
                        "counter change, and a warning names the channels.");
        else if (decision.NonFiniteGuard is NonFinitePolicy.Throw)
            reasons.Add("NonFinitePolicy = Throw: if a channel's batch statistics are not finite, the forward throws naming the channels, and nothing changes.");
        if (decision.ParametersFrozen)
            reasons.Add("FreezeParameters = true: Backward gives dx but adds nothing to Weight.Grad and Bias.Grad.");
    }
}

/// <summary>The policies as a collection sets them on layers of any element type (values already checked).</summary>
internal interface IStatisticsPolicies
{
    /// <summary>Sets each policy that is not null.</summary>
    void SetPolicies(bool? freezeStatistics, bool? freezeParameters, SmallBatchPolicy? smallBatch, EmptyBatchPolicy? emptyBatch,
                     NonFinitePolicy? nonFinite, int? virtualBatchSize);
}
