using NormSharp.Serialization;

namespace NormSharp.Cli.Inspection;

/// <summary>
/// Finds the normalization layers of a checkpoint by key pattern: a prefix that owns <c>running_mean</c>,
/// <c>running_var</c> or <c>num_batches_tracked</c> (BatchNorm, and InstanceNorm with tracking). Layers without running
/// statistics cannot be told from other layers' <c>weight</c>/<c>bias</c> and are not listed. Uninitialized entries (a lazy
/// layer's state dict before its first forward, <see cref="StateTensor.IsUninitialized"/>) are flagged, without values.
/// </summary>
public static class CheckpointInspection
{
    /// <summary>Weights smaller than this in magnitude are flagged as near zero.</summary>
    public const double NearZeroWeight = 1e-3;

    private static readonly string[] Suffixes = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];

    // The entries whose element type a layer's row shows, in order of preference.
    private static readonly string[] DTypeSources = ["running_mean", "running_var", "weight", "num_batches_tracked"];

    /// <summary>The normalization layers of <paramref name="file"/>, in the order their first key appears.</summary>
    public static IReadOnlyList<NormLayerReport> Inspect(SafeTensorsFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Inspect(file.Tensors);
    }

    /// <summary>The normalization layers of a checkpoint's tensors (from any format), in the order their first key appears.</summary>
    public static IReadOnlyList<NormLayerReport> Inspect(StateDict tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var groups = new Dictionary<string, Dictionary<string, StateTensor>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (key, tensor) in tensors)
        {
            int dot = key.LastIndexOf('.');
            string prefix = dot < 0 ? "" : key[..dot], suffix = key[(dot + 1)..];
            if (!Suffixes.Contains(suffix)) continue;
            if (!groups.TryGetValue(prefix, out var group))
            {
                groups[prefix] = group = new Dictionary<string, StateTensor>(StringComparer.Ordinal);
                order.Add(prefix);
            }

            group[suffix] = tensor;
        }

        return order.Where(p => groups[p].Keys.Any(k => k is "running_mean" or "running_var" or "num_batches_tracked"))
                    .Select(p => Report(p, groups[p]))
                    .ToList();
    }

    private static NormLayerReport Report(string prefix, Dictionary<string, StateTensor> group)
    {
        var anomalies = new List<string>();
        // A lazy layer's state dict before its first forward holds uninitialized entries: no shape, no values to summarize.
        string[] uninitialized = Suffixes.Where(k => group.TryGetValue(k, out StateTensor? t) && t.IsUninitialized).ToArray();
        if (uninitialized.Length > 0)
            anomalies.Add($"{string.Join(", ", uninitialized)} uninitialized: a lazy layer before its first forward (no shape, no values)");
        StateTensor? mean = Initialized(group, "running_mean"), variance = Initialized(group, "running_var");
        StateTensor? weight = Initialized(group, "weight"), counterTensor = Initialized(group, "num_batches_tracked");
        StateTensor? shaped = mean ?? variance ?? weight;
        long channels = shaped is { Shape.Count: 1 } ? shaped.Shape[0] : shaped?.Count ?? 0;

        if (!group.ContainsKey("running_mean")) anomalies.Add("no running_mean");
        if (!group.ContainsKey("running_var")) anomalies.Add("no running_var");
        foreach (var (name, tensor) in new[] { ("running_mean", mean), ("running_var", variance), ("weight", weight), ("bias", Initialized(group, "bias")) })
            if (tensor is not null && tensor.Count != channels) anomalies.Add($"{name} has {tensor.Count} values, not {channels}");

        double[]? varValues = variance?.ToDoubles();
        if (varValues is not null)
        {
            int nonPositive = varValues.Count(v => v <= 0), notFinite = varValues.Count(v => !double.IsFinite(v));
            if (nonPositive > 0) anomalies.Add($"running_var <= 0 in {nonPositive} channel(s)");
            if (notFinite > 0) anomalies.Add($"running_var NaN or infinite in {notFinite} channel(s)");
        }

        double[]? meanValues = mean?.ToDoubles();
        int meanNotFinite = meanValues?.Count(v => !double.IsFinite(v)) ?? 0;
        if (meanNotFinite > 0) anomalies.Add($"running_mean NaN or infinite in {meanNotFinite} channel(s)");

        long? counter = null;
        if (counterTensor is not null)
        {
            if (counterTensor.Count != 1) anomalies.Add($"num_batches_tracked has {counterTensor.Count} values");
            else
            {
                counter = counterTensor.ToInt64s()[0];
                if (counter == 0) anomalies.Add("num_batches_tracked is 0: untrained running statistics (for BatchNorm; InstanceNorm never counts)");
                if (counter < 0) anomalies.Add("num_batches_tracked is negative");
            }
        }

        double[]? weightValues = weight?.ToDoubles();
        int nearZero = weightValues?.Count(w => Math.Abs(w) < NearZeroWeight) ?? 0;
        if (nearZero > 0) anomalies.Add($"near-zero weight (|w| < {NearZeroWeight}) in {nearZero} channel(s)");

        StateTensor? typed = DTypeSources.Select(group.GetValueOrDefault).FirstOrDefault(t => t is not null);
        string dtype = typed is not null ? DTypeName(typed.DType) : "?";
        return new NormLayerReport(prefix, channels, dtype, counter, Summary(meanValues), Summary(varValues), Summary(weightValues), anomalies);
    }

    private static StateTensor? Initialized(Dictionary<string, StateTensor> group, string key) =>
        group.TryGetValue(key, out StateTensor? tensor) && !tensor.IsUninitialized ? tensor : null;

    private static string DTypeName(StateDType dtype) => dtype switch
    {
        StateDType.Float32 => "F32",
        StateDType.Float64 => "F64",
        StateDType.Float16 => "F16",
        StateDType.BFloat16 => "BF16",
        _ => "I64",
    };

    private static ValueSummary? Summary(double[]? values)
    {
        double[] finite = values?.Where(v => !double.IsNaN(v)).ToArray() ?? [];
        return finite.Length == 0 ? null : new ValueSummary(finite.Min(), finite.Average(), finite.Max());
    }
}
