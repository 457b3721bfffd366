namespace NormSharp.Cli.Observation;

/// <summary>A layer's statistics policies, as a step left them (the words are the step language's values).</summary>
/// <param name="FreezeStatistics">FreezeStatistics.</param>
/// <param name="FreezeParameters">FreezeParameters.</param>
/// <param name="SmallBatch">SmallBatchPolicy: "error" or "use-running".</param>
/// <param name="EmptyBatch">EmptyBatchPolicy: "pytorch" or "skip".</param>
/// <param name="NonFinite">NonFinitePolicy: "propagate", "skip" or "throw".</param>
/// <param name="VirtualBatchSize">VirtualBatchSize, or null.</param>
public sealed record PolicySettings(bool FreezeStatistics, bool FreezeParameters, string SmallBatch, string EmptyBatch, string NonFinite,
                                    int? VirtualBatchSize)
{
    /// <summary>A new layer's policies: PyTorch's behaviour.</summary>
    public static PolicySettings Defaults { get; } = new(false, false, "error", "pytorch", "propagate", null);

    /// <summary>The policies of <paramref name="layer"/> now.</summary>
    public static PolicySettings Of<T>(NormBase<T> layer) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(layer);
        return new(layer.FreezeStatistics, layer.FreezeParameters,
                   layer.SmallBatchPolicy == SmallBatchPolicy.Error ? "error" : "use-running",
                   layer.EmptyBatchPolicy == EmptyBatchPolicy.PyTorch ? "pytorch" : "skip",
                   layer.NonFinitePolicy switch { NonFinitePolicy.Propagate => "propagate", NonFinitePolicy.SkipUpdate => "skip", _ => "throw" },
                   layer.VirtualBatchSize);
    }

    /// <summary>Each policy that differs in <paramref name="after"/>, as <c>name: old -> new</c>.</summary>
    public IEnumerable<string> ChangesTo(PolicySettings after)
    {
        ArgumentNullException.ThrowIfNull(after);
        if (FreezeStatistics != after.FreezeStatistics) yield return $"freeze-stats: {Word(FreezeStatistics)} -> {Word(after.FreezeStatistics)}";
        if (FreezeParameters != after.FreezeParameters) yield return $"freeze-params: {Word(FreezeParameters)} -> {Word(after.FreezeParameters)}";
        if (SmallBatch != after.SmallBatch) yield return $"small-batch: {SmallBatch} -> {after.SmallBatch}";
        if (EmptyBatch != after.EmptyBatch) yield return $"empty-batch: {EmptyBatch} -> {after.EmptyBatch}";
        if (NonFinite != after.NonFinite) yield return $"nonfinite: {NonFinite} -> {after.NonFinite}";
        if (VirtualBatchSize != after.VirtualBatchSize) yield return $"virtual-batch: {Size(VirtualBatchSize)} -> {Size(after.VirtualBatchSize)}";
    }

    /// <summary>The policies that are not PyTorch's defaults, as <c>name=value</c> words (empty when all are).</summary>
    public IEnumerable<string> NonDefaults()
    {
        if (FreezeStatistics) yield return "freeze-stats=true";
        if (FreezeParameters) yield return "freeze-params=true";
        if (SmallBatch != "error") yield return $"small-batch={SmallBatch}";
        if (EmptyBatch != "pytorch") yield return $"empty-batch={EmptyBatch}";
        if (NonFinite != "propagate") yield return $"nonfinite={NonFinite}";
        if (VirtualBatchSize is int k) yield return $"virtual-batch={k}";
    }

    private static string Word(bool flag) => flag ? "true" : "false";

    private static string Size(int? size) => size is int k ? k.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none";
}
