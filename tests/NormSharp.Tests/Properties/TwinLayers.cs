using System.Numerics;

namespace NormSharp.Tests.Properties;

/// <summary>One layer configuration of the twin test: class (family, 1d/2d/3d, lazy), element type, constructor arguments.</summary>
/// <param name="InstanceNorm">InstanceNorm family (else BatchNorm).</param>
/// <param name="Dims">1, 2 or 3.</param>
/// <param name="Lazy">The Lazy class.</param>
/// <param name="Double">T = double (else float).</param>
/// <param name="NonGeneric">For float, the class without &lt;T&gt;.</param>
/// <param name="Affine">The affine argument.</param>
/// <param name="Track">The trackRunningStats argument.</param>
/// <param name="Momentum">The momentum argument.</param>
/// <param name="Eps">The eps argument.</param>
/// <param name="C">num_features (a lazy layer's first input gets this many channels).</param>
internal sealed record TwinConfig(bool InstanceNorm, int Dims, bool Lazy, bool Double, bool NonGeneric, bool Affine, bool Track,
                                  double? Momentum, double Eps, int C)
{
    public static TwinConfig Draw(Random rng) => new(
        rng.Next(2) == 0, rng.Next(1, 4), rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(2) == 0,
        rng.Next(4) == 0 ? null : Math.Round(rng.NextDouble(), 3), rng.Next(3) == 0 ? 1e-5 : Math.Round(1e-4 + rng.NextDouble() * 1e-2, 6),
        rng.Next(1, 6));

    public string ClassName => $"{(Lazy ? "Lazy" : "")}{(InstanceNorm ? "InstanceNorm" : "BatchNorm")}{Dims}d{(NonGeneric && !Double ? "" : Double ? "<double>" : "<float>")}";

    /// <summary>The ranks the class accepts; for InstanceNorm the first is the unbatched one.</summary>
    public int[] Ranks => InstanceNorm ? [Dims + 1, Dims + 2] : Dims == 1 ? [2, 3] : [Dims + 2];

    public NormBase<T> Create<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (NonGeneric && typeof(T) == typeof(float)) return (NormBase<T>)(object)CreateFloat();
        return (InstanceNorm, Dims, Lazy) switch
        {
            (false, 1, false) => new BatchNorm1d<T>(C, Eps, Momentum, Affine, Track),
            (false, 2, false) => new BatchNorm2d<T>(C, Eps, Momentum, Affine, Track),
            (false, 3, false) => new BatchNorm3d<T>(C, Eps, Momentum, Affine, Track),
            (true, 1, false) => new InstanceNorm1d<T>(C, Eps, Momentum, Affine, Track),
            (true, 2, false) => new InstanceNorm2d<T>(C, Eps, Momentum, Affine, Track),
            (true, 3, false) => new InstanceNorm3d<T>(C, Eps, Momentum, Affine, Track),
            (false, 1, true) => new LazyBatchNorm1d<T>(Eps, Momentum, Affine, Track),
            (false, 2, true) => new LazyBatchNorm2d<T>(Eps, Momentum, Affine, Track),
            (false, 3, true) => new LazyBatchNorm3d<T>(Eps, Momentum, Affine, Track),
            (true, 1, true) => new LazyInstanceNorm1d<T>(Eps, Momentum, Affine, Track),
            (true, 2, true) => new LazyInstanceNorm2d<T>(Eps, Momentum, Affine, Track),
            _ => new LazyInstanceNorm3d<T>(Eps, Momentum, Affine, Track),
        };
    }

    private NormBase<float> CreateFloat() => (InstanceNorm, Dims, Lazy) switch
    {
        (false, 1, false) => new BatchNorm1d(C, Eps, Momentum, Affine, Track),
        (false, 2, false) => new BatchNorm2d(C, Eps, Momentum, Affine, Track),
        (false, 3, false) => new BatchNorm3d(C, Eps, Momentum, Affine, Track),
        (true, 1, false) => new InstanceNorm1d(C, Eps, Momentum, Affine, Track),
        (true, 2, false) => new InstanceNorm2d(C, Eps, Momentum, Affine, Track),
        (true, 3, false) => new InstanceNorm3d(C, Eps, Momentum, Affine, Track),
        (false, 1, true) => new LazyBatchNorm1d(Eps, Momentum, Affine, Track),
        (false, 2, true) => new LazyBatchNorm2d(Eps, Momentum, Affine, Track),
        (false, 3, true) => new LazyBatchNorm3d(Eps, Momentum, Affine, Track),
        (true, 1, true) => new LazyInstanceNorm1d(Eps, Momentum, Affine, Track),
        (true, 2, true) => new LazyInstanceNorm2d(Eps, Momentum, Affine, Track),
        _ => new LazyInstanceNorm3d(Eps, Momentum, Affine, Track),
    };

    public override string ToString() =>
        $"new {ClassName}({(Lazy ? "" : $"{C}, ")}eps: {Eps:R}, momentum: {(Momentum is double m ? m.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "null")}, " +
        $"affine: {Affine}, trackRunningStats: {Track})";
}

/// <summary>Everything a caller can observe of a layer, one line per observable, bit-exact.</summary>
internal static class TwinObservation
{
    public static List<string> Of<T>(NormBase<T> layer, IEnumerable<nint[]> explainShapes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var lines = new List<string>
        {
            $"ModuleName {layer.ModuleName}",
            $"NumFeatures {layer.NumFeatures}",
            $"HasUninitializedParameters {layer.HasUninitializedParameters}",
            $"Training {layer.Training}",
            $"Eps {BitConverter.DoubleToInt64Bits(layer.Eps):X16}",
            $"Momentum {(layer.Momentum is double m ? $"{BitConverter.DoubleToInt64Bits(m):X16}" : "null")}",
            $"Affine {layer.Affine}",
            $"TrackRunningStats {layer.TrackRunningStats}",
            $"NumBatchesTracked {layer.NumBatchesTracked?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}",
            $"Weight {Parameter(layer.Weight)}",
            $"Bias {Parameter(layer.Bias)}",
            $"RunningMean {TwinTensors.Bits(layer.RunningMean)}",
            $"RunningVar {TwinTensors.Bits(layer.RunningVar)}",
        };
        StateDict state = layer.StateDict();
        lines.Add($"StateDict version {state.Version} keys {string.Join(",", state.Keys)}");
        foreach (var (key, value) in state) lines.Add($"StateDict {key}: {Entry(value)}");
        foreach (nint[] shape in explainShapes) lines.Add($"Explain{TwinTensors.Show(shape)}: {Plan(layer.Explain(shape))}");
        return lines;
    }

    private static string Parameter<T>(Parameter<T>? parameter) where T : unmanaged, IFloatingPointIeee754<T> =>
        parameter is null
            ? "null"
            : $"data {TwinTensors.Bits(parameter.Data)} grad {TwinTensors.Bits(parameter.Grad)} requiresGrad {parameter.RequiresGrad}";

    public static string Entry(StateTensor value) =>
        value.IsUninitialized ? $"{value.DType} {value}" :
        $"{value.DType}[{string.Join(",", value.Shape)}] " +
        (value.DType == StateDType.Int64
            ? string.Join(" ", value.ToInt64s())
            : string.Join(" ", value.ToDoubles().Select(v => $"{BitConverter.DoubleToInt64Bits(v):X16}")));

    /// <summary>Every field of a plan (the lists joined), so that two plans compare by value.</summary>
    public static string Plan(ForwardPlan plan) =>
        $"{plan.Module}|{string.Join(",", plan.InputShape)}|{plan.Training}|{plan.TrackRunningStats}|{plan.HasRunningStatistics}|" +
        $"{plan.HasAffineParameters}|{plan.NormalizeWith}|{plan.PassesRunningStatistics}|{plan.UpdatesRunningStatistics}|{plan.Averaging}|" +
        $"{BitConverter.DoubleToInt64Bits(plan.Factor):X16}|{plan.IncrementsCounter}|{plan.CounterAfter}|{plan.SingleValueCheckApplies}|" +
        $"error {plan.Error}|warning {plan.Warning}|reasons {string.Join(" / ", plan.Reasons)}|ineffective {string.Join(" / ", plan.IneffectiveChanges)}|{plan}";

    /// <summary>The first line that differs, or null.</summary>
    public static string? FirstDifference(List<string> failed, List<string> other,
                                          string failedLabel = "twin that got the failed call", string otherLabel = "the other twin")
    {
        int width = Math.Max(failedLabel.Length, otherLabel.Length) + 1;
        for (int i = 0; i < Math.Max(failed.Count, other.Count); i++)
        {
            string? x = i < failed.Count ? failed[i] : null, y = i < other.Count ? other[i] : null;
            if (x != y) return $"{(failedLabel + ":").PadRight(width)} {x ?? "(no line)"}\n      {(otherLabel + ":").PadRight(width)} {y ?? "(no line)"}";
        }

        return null;
    }
}
