using System.Collections;
using NormSharp.Diagnostics;
using NormSharp.Serialization;

namespace NormSharp;

/// <summary>
/// Named normalization layers whose state is saved and loaded together under PyTorch's prefixed names, the way a
/// network's <c>state_dict()</c> names its submodules: the layer added as <c>layer1.0.bn1</c> owns the keys
/// <c>layer1.0.bn1.weight</c>, <c>layer1.0.bn1.running_mean</c>, and so on.
/// </summary>
/// <remarks>
/// <para><see cref="LoadStateDict"/> checks every layer before changing any: missing keys, unexpected keys (including keys
/// under no layer's name) and shape mismatches are all reported by full name in one error, in PyTorch's format, and
/// nothing changes. A key goes to the layer with the longest name that prefixes it. Each layer applies its own rules
/// (the counter migration of old checkpoints, InstanceNorm's dropped running statistics, lazy initialization).</para>
/// <example>
/// <code>
/// var model = new NormModuleCollection("ResNet") { ["bn1"] = new BatchNorm2d(64), ["layer1.0.bn1"] = new BatchNorm2d(64) };
/// model.SaveSafeTensors("resnet-norms.safetensors");
/// model.LoadSafeTensors("resnet-norms.safetensors", strict: true);
/// </code>
/// </example>
/// </remarks>
/// <param name="name">The name load errors give the whole (PyTorch prints the root module's class, e.g. <c>ResNet</c>).</param>
public sealed class NormModuleCollection(string name = "NormModuleCollection") : IEnumerable<KeyValuePair<string, INormModule>>
{
    private readonly List<KeyValuePair<string, INormModule>> modules = [];

    /// <summary>The name load errors give the whole.</summary>
    public string Name { get; } = name;

    /// <summary>The number of layers.</summary>
    public int Count => modules.Count;

    /// <summary>The layer added under <paramref name="moduleName"/>; setting adds it (or replaces the one of that name).</summary>
    /// <param name="moduleName">A dotted path such as <c>layer1.0.bn1</c>.</param>
    public INormModule this[string moduleName]
    {
        get => modules.First(m => m.Key == moduleName).Value;
        set
        {
            ValidateName(moduleName);
            ArgumentNullException.ThrowIfNull(value);
            int index = modules.FindIndex(m => m.Key == moduleName);
            if (index >= 0) modules[index] = new(moduleName, value);
            else modules.Add(new(moduleName, value));
        }
    }

    /// <summary>Adds a layer under a new name.</summary>
    /// <param name="moduleName">A dotted path such as <c>layer1.0.bn1</c>.</param>
    /// <param name="module">The layer.</param>
    public void Add(string moduleName, INormModule module)
    {
        if (modules.Any(m => m.Key == moduleName)) throw new ArgumentException($"a layer named \"{moduleName}\" is already present.", nameof(moduleName));
        this[moduleName] = module;
    }

    /// <summary>Every layer's state under <c>name.key</c>, layer by layer in the order they were added; version 2.</summary>
    public StateDict StateDict()
    {
        var state = new StateDict(NormBase<float>.StateDictVersion);
        foreach (var (moduleName, module) in modules)
            foreach (var (key, value) in module.StateDict())
                state[$"{moduleName}.{key}"] = value;
        return state;
    }

    /// <summary>
    /// Sets the statistics policies (see <see cref="NormBase{T}.FreezeStatistics"/> and its neighbours) on every layer; a
    /// null argument leaves that policy as each layer has it. Every value is checked before any layer changes.
    /// </summary>
    /// <param name="freezeStatistics">FreezeStatistics for every layer (mmdetection's <c>norm_eval</c> for the whole network).</param>
    /// <param name="freezeParameters">FreezeParameters for every layer.</param>
    /// <param name="smallBatch">SmallBatchPolicy for every layer.</param>
    /// <param name="emptyBatch">EmptyBatchPolicy for every layer.</param>
    /// <param name="nonFinite">NonFinitePolicy for every layer.</param>
    /// <param name="virtualBatchSize">VirtualBatchSize for every layer (ghost batch normalization); null leaves each layer's
    /// as it is (set a layer's own <see cref="NormBase{T}.VirtualBatchSize"/> to null to stop splitting).</param>
    /// <example><code>model.SetPolicies(freezeStatistics: true);   // fine-tuning: every layer's statistics stay, across Train() calls</code></example>
    /// <exception cref="ArgumentOutOfRangeException">A value is not a defined member, or the virtual batch size is not
    /// positive; no layer changed.</exception>
    /// <exception cref="NotSupportedException">A layer is not a NormSharp layer; no layer changed.</exception>
    public void SetPolicies(bool? freezeStatistics = null, bool? freezeParameters = null, SmallBatchPolicy? smallBatch = null,
                            EmptyBatchPolicy? emptyBatch = null, NonFinitePolicy? nonFinite = null, int? virtualBatchSize = null)
    {
        if (virtualBatchSize is <= 0)
            throw new ArgumentOutOfRangeException(nameof(virtualBatchSize), virtualBatchSize,
                $"VirtualBatchSize must be a positive number of samples, not {virtualBatchSize}.");
        if (smallBatch is { } s && !Enum.IsDefined(s)) throw new ArgumentOutOfRangeException(nameof(smallBatch), s, $"{s} is not a SmallBatchPolicy.");
        if (emptyBatch is { } e && !Enum.IsDefined(e)) throw new ArgumentOutOfRangeException(nameof(emptyBatch), e, $"{e} is not an EmptyBatchPolicy.");
        if (nonFinite is { } n && !Enum.IsDefined(n)) throw new ArgumentOutOfRangeException(nameof(nonFinite), n, $"{n} is not a NonFinitePolicy.");
        var layers = modules.Select(m => m.Value as IStatisticsPolicies
                                         ?? throw new NotSupportedException($"\"{m.Key}\" is not a NormSharp layer.")).ToList();
        foreach (IStatisticsPolicies layer in layers)
            layer.SetPolicies(freezeStatistics, freezeParameters, smallBatch, emptyBatch, nonFinite, virtualBatchSize);
    }

    /// <summary>Loads a state dict with prefixed names into the layers, all or nothing.</summary>
    /// <remarks>Each layer loads its part with the version <see cref="NormSharp.StateDict.VersionOf"/> gives for its name: the
    /// state dict's one <see cref="NormSharp.StateDict.Version"/>, or, for a state dict read from a PyTorch checkpoint, the
    /// layer's own entry of <see cref="NormSharp.StateDict.ModuleVersions"/> (PyTorch's <c>_metadata</c>), so that a layer
    /// saved at version 1 gets the counter migration and its version-2 neighbours do not.</remarks>
    /// <param name="stateDict">The state, e.g. <see cref="SafeTensorsFile.Tensors"/> of a checkpoint.</param>
    /// <param name="strict">When true, missing and unexpected keys are errors.</param>
    /// <param name="validate">When true, every layer's running statistics are checked before any layer changes: a running_var
    /// entry below zero or a non-finite running_mean or running_var entry is an error naming the full key, the channel and
    /// the value. False (PyTorch) by default.</param>
    /// <returns>The full names of the keys that were missing and unexpected (both empty after a strict load).</returns>
    /// <exception cref="ArgumentException">Some key is missing, unexpected (strict) or of the wrong shape, or (validate) a
    /// running statistic is negative or not finite; the message lists them all; nothing changed.</exception>
    public LoadStateDictResult LoadStateDict(StateDict stateDict, bool strict = true, bool validate = false)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var parts = modules.ToDictionary(m => m.Key, m => new StateDict(stateDict.VersionOf(m.Key)), StringComparer.Ordinal);
        var longestFirst = modules.Select(m => m.Key).OrderByDescending(n => n.Length).ToList();
        var unexpected = new List<string>();
        foreach (var (key, value) in stateDict)
        {
            string? owner = longestFirst.FirstOrDefault(n => key.Length > n.Length + 1 && key.StartsWith(n, StringComparison.Ordinal) && key[n.Length] == '.');
            if (owner is null) unexpected.Add(key);
            else parts[owner][key[(owner.Length + 1)..]] = value;
        }

        var plans = new List<(ILoadPlanning Module, LoadPlan Plan)>();
        var missing = new List<string>();
        var errors = new List<string>();
        foreach (var (moduleName, module) in modules)
        {
            if (module is not ILoadPlanning planning)
                throw new NotSupportedException($"\"{moduleName}\" is not a NormSharp layer.");
            LoadPlan plan = planning.PlanLoad(parts[moduleName], strict: false, prefix: moduleName + ".", validate);
            plans.Add((planning, plan));
            missing.AddRange(plan.Missing.Select(k => $"{moduleName}.{k}"));
            unexpected.AddRange(plan.Unexpected.Select(k => $"{moduleName}.{k}"));
            errors.AddRange(plan.Errors);
        }

        var order = stateDict.Keys.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i, StringComparer.Ordinal);
        unexpected = unexpected.OrderBy(k => order.GetValueOrDefault(k, int.MaxValue)).ToList();
        if (strict)
        {
            if (unexpected.Count > 0) errors.Insert(0, TorchMessages.UnexpectedKeys(unexpected));
            if (missing.Count > 0) errors.Insert(0, TorchMessages.MissingKeys(missing));
        }

        if (errors.Count > 0) throw new ArgumentException(TorchMessages.LoadStateDictErrors(Name, errors));
        // Every warning before any value: a handler that throws (warnings as errors) stops the load with nothing changed.
        foreach (var (module, plan) in plans) module.WarnBeforeApply(plan);
        foreach (var (module, plan) in plans) module.ApplyLoad(plan);
        return new LoadStateDictResult(missing, unexpected);
    }

    /// <summary>Saves <see cref="StateDict"/> as a safetensors file, atomically (see <see cref="SafeTensors.WriteFile"/>).</summary>
    /// <param name="path">The target file.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings.</param>
    public void SaveSafeTensors(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.WriteFile(path, StateDict(), metadata);

    /// <summary>Reads a safetensors file and loads it with <see cref="LoadStateDict"/>.</summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="strict">When true, missing and unexpected keys are errors.</param>
    /// <param name="validate">When true, negative or non-finite running statistics are errors (see <see cref="LoadStateDict"/>).</param>
    /// <exception cref="SafeTensorsException">The file is not a valid safetensors file.</exception>
    /// <exception cref="ArgumentException">The tensors do not fit the layers; nothing changed.</exception>
    public LoadStateDictResult LoadSafeTensors(string path, bool strict = true, bool validate = false) =>
        LoadStateDict(SafeTensors.ReadFile(path).Tensors, strict, validate);

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, INormModule>> GetEnumerator() => modules.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static void ValidateName(string moduleName)
    {
        ArgumentException.ThrowIfNullOrEmpty(moduleName);
        if (moduleName.Split('.').Any(part => part.Length == 0))
            throw new ArgumentException($"\"{moduleName}\" is not a module path: its parts, separated by dots, must not be empty.", nameof(moduleName));
    }
}
