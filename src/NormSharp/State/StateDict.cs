using System.Collections;

namespace NormSharp;

/// <summary>
/// An ordered map from PyTorch's state-dict keys (<c>weight</c>, <c>bias</c>, <c>running_mean</c>,
/// <c>running_var</c>, <c>num_batches_tracked</c>) to tensors, the twin of PyTorch's <c>state_dict()</c>.
/// </summary>
/// <remarks>
/// A module's <c>StateDict()</c> holds copies (a snapshot), not the live tensors: changing the module
/// later does not change it. <see cref="Version"/> plays the role of PyTorch's <c>_metadata</c>
/// version: 2 for a state dict a module wrote, null for one built by hand (PyTorch treats a plain
/// dict the same way), which matters for checkpoints without <c>num_batches_tracked</c>. A state dict
/// read from a PyTorch checkpoint also carries <see cref="ModuleVersions"/>, the version of each
/// module by name, and a <see cref="NormModuleCollection"/> gives each layer its own.
/// </remarks>
public sealed class StateDict : IEnumerable<KeyValuePair<string, StateTensor>>
{
    private readonly List<string> order = [];
    private readonly Dictionary<string, StateTensor> entries = new(StringComparer.Ordinal);

    /// <summary>An empty state dict with no version (a plain dict, in PyTorch terms).</summary>
    public StateDict()
    {
    }

    /// <summary>An empty state dict with the given format version.</summary>
    public StateDict(int? version) => Version = version;

    /// <summary>The normalization modules' state-dict version (2 since PyTorch 0.4.1), or null.</summary>
    public int? Version { get; set; }

    /// <summary>
    /// The state-dict version of each module by its dotted name (<c>""</c> for the root, <c>layer1.0.bn1</c> for a layer), as
    /// PyTorch's <c>_metadata</c> attribute records them; null (the default) when one <see cref="Version"/> holds for every
    /// module, as for a state dict NormSharp wrote or one read from safetensors (which has no place for versions).
    /// </summary>
    /// <remarks>A module that has no entry here has no version (null), as PyTorch's <c>metadata.get(prefix, {})</c> gives:
    /// see <see cref="VersionOf"/>. Keys are module names, not tensor keys.</remarks>
    public IDictionary<string, int?>? ModuleVersions { get; set; }

    /// <summary>
    /// The version the module named <paramref name="moduleName"/> loads its part with: its entry in
    /// <see cref="ModuleVersions"/> when that is set (null when it has no entry), else <see cref="Version"/>.
    /// </summary>
    /// <param name="moduleName">The module's dotted name, <c>""</c> for the root.</param>
    /// <example><c>sd.VersionOf("layer1.0.bn1")</c> is 1 for a layer saved by PyTorch before 0.4.1, whose part of the state dict
    /// then loads with the counter migration (a missing <c>num_batches_tracked</c> becomes 0).</example>
    public int? VersionOf(string moduleName)
    {
        ArgumentNullException.ThrowIfNull(moduleName);
        if (ModuleVersions is null) return Version;
        return ModuleVersions.TryGetValue(moduleName, out int? version) ? version : null;
    }

    /// <summary>The keys in insertion order.</summary>
    public IReadOnlyList<string> Keys => order;

    /// <summary>The number of entries.</summary>
    public int Count => order.Count;

    /// <summary>Gets or sets an entry; setting a new key appends it.</summary>
    /// <exception cref="KeyNotFoundException">Getting a key that is absent.</exception>
    public StateTensor this[string key]
    {
        get => entries[key];
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            ArgumentNullException.ThrowIfNull(value);
            if (!entries.ContainsKey(key)) order.Add(key);
            entries[key] = value;
        }
    }

    /// <summary>Adds an entry (the collection-initializer form).</summary>
    public void Add(string key, StateTensor value)
    {
        if (entries.ContainsKey(key)) throw new ArgumentException($"key \"{key}\" is already present.", nameof(key));
        this[key] = value;
    }

    /// <summary>Whether the key is present.</summary>
    public bool ContainsKey(string key) => entries.ContainsKey(key);

    /// <summary>Gets an entry when present.</summary>
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out StateTensor value) =>
        entries.TryGetValue(key, out value);

    /// <summary>Removes an entry; returns whether it was present.</summary>
    public bool Remove(string key)
    {
        if (!entries.Remove(key)) return false;
        order.Remove(key);
        return true;
    }

    /// <summary>
    /// A copy with every floating tensor converted to <paramref name="dtype"/> and the integer ones (counters) kept, as
    /// PyTorch's <c>module.half()</c> / <c>.double()</c> treat a state: e.g. <c>sd.ToFloatingType(StateDType.Float16)</c>
    /// before saving a half-precision checkpoint.
    /// </summary>
    /// <param name="dtype">Float32, Float64, Float16 or BFloat16.</param>
    public StateDict ToFloatingType(StateDType dtype)
    {
        if (dtype == StateDType.Int64) throw new ArgumentException("a floating type is needed; counters stay Int64.", nameof(dtype));
        var copy = new StateDict(Version) { ModuleVersions = ModuleVersions is null ? null : new Dictionary<string, int?>(ModuleVersions, StringComparer.Ordinal) };
        foreach (var (key, tensor) in this) copy[key] = tensor.DType == StateDType.Int64 ? tensor : tensor.ConvertTo(dtype);
        return copy;
    }

    /// <summary>
    /// The entries whose keys start with <paramref name="prefix"/>, with the prefix removed, in order, with the same
    /// version: one layer's state out of a model's (Python's <c>{k[len(p):]: v for k, v in sd.items() if k.startswith(p)}</c>).
    /// </summary>
    /// <param name="prefix">The module path and its dot, e.g. <c>"layer1.0.bn1."</c>.</param>
    /// <example><code>new BatchNorm2d(64).LoadStateDict(model.StateDict().WithoutPrefix("layer1.0.bn1."));</code></example>
    public StateDict WithoutPrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var part = new StateDict(Version);
        foreach (string key in order)
            if (key.Length > prefix.Length && key.StartsWith(prefix, StringComparison.Ordinal)) part[key[prefix.Length..]] = entries[key];
        return part;
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, StateTensor>> GetEnumerator() =>
        order.Select(key => new KeyValuePair<string, StateTensor>(key, entries[key])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
