namespace NormSharp;

/// <summary>
/// Recalibrates running statistics from data ("precise BN"; SWA's <c>update_bn</c>): after weight averaging, pruning,
/// quantization or a change of data, run the network over some batches and replace each normalization layer's
/// running_mean and running_var with the statistics of exactly those batches.
/// </summary>
/// <remarks>
/// <para>NormSharp does not own the network: <see cref="Begin(NormModuleCollection, RecalibrationWeighting)"/> makes each
/// layer record, in double, the per-channel statistics of every forward you run; <see cref="RecalibrationSession.Complete"/>
/// writes them. With <see cref="RecalibrationWeighting.PerSample"/> (the default), for a BatchNorm channel over all the n
/// values x seen in every batch:</para>
/// <code>
/// running_mean = Σx / n        running_var = Σ(x - running_mean)² / (n - 1)        num_batches_tracked = batches seen
/// </code>
/// <para>what one training forward over all the batches concatenated would compute (each batch's mean and Σ(x - mean)²
/// merged with Chan et al.'s formula, so a mean of 1e4 with std 1 loses nothing). For InstanceNorm, whose statistics
/// are per sample, the population is the samples: running_mean is the average over every sample seen of its plane's mean,
/// running_var the average of its plane's unbiased variance, which is what InstanceNorm's running buffers estimate.
/// <see cref="RecalibrationWeighting.PerBatch"/> reproduces <c>update_bn</c> instead. Layers without running statistics
/// are skipped (and reported); a layer or channel that saw no data keeps its statistics and counter.</para>
/// <example>
/// <code>
/// using (RecalibrationSession session = Recalibration.Begin(model))     // model: the network's NormModuleCollection
/// {
///     foreach (float[] batch in calibrationBatches) network.Forward(batch);
///     RecalibrationReport report = session.Complete();
///     Console.WriteLine(report.ToTable());
/// }
/// </code>
/// </example>
/// </remarks>
public static class Recalibration
{
    /// <summary>Begins recording every layer of <paramref name="layers"/> that has running statistics.</summary>
    /// <param name="layers">The network's normalization layers, under their names.</param>
    /// <param name="weighting">Per sample (the population statistics, the default) or per batch (<c>update_bn</c>).</param>
    /// <returns>The session: run the forwards, then <see cref="RecalibrationSession.Complete"/>.</returns>
    /// <exception cref="ArgumentException">A layer is a lazy layer not yet initialized, a layer appears twice, or a layer
    /// is not a NormSharp float or double layer; nothing changed.</exception>
    /// <exception cref="InvalidOperationException">A layer is already being recorded by another session; nothing changed.</exception>
    public static RecalibrationSession Begin(NormModuleCollection layers, RecalibrationWeighting weighting = RecalibrationWeighting.PerSample)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return Begin(layers.ToList(), weighting);
    }

    /// <summary>Begins recording one layer (named <c>""</c> in the report).</summary>
    /// <param name="layer">A layer with running statistics.</param>
    /// <param name="weighting">Per sample (the population statistics, the default) or per batch (<c>update_bn</c>).</param>
    /// <returns>The session.</returns>
    /// <exception cref="ArgumentException">The layer is a lazy layer not yet initialized, or not a NormSharp float or double
    /// layer.</exception>
    /// <exception cref="InvalidOperationException">The layer is already being recorded by another session.</exception>
    public static RecalibrationSession Begin(INormModule layer, RecalibrationWeighting weighting = RecalibrationWeighting.PerSample)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return Begin([new KeyValuePair<string, INormModule>("", layer)], weighting);
    }

    private static RecalibrationSession Begin(IReadOnlyList<KeyValuePair<string, INormModule>> layers, RecalibrationWeighting weighting)
    {
        if (!Enum.IsDefined(weighting)) throw new ArgumentOutOfRangeException(nameof(weighting), weighting, "not a RecalibrationWeighting.");
        var seen = new HashSet<INormModule>(ReferenceEqualityComparer.Instance);
        var recorded = new List<(string, IRecordedLayer)>();
        var skipped = new List<RecalibratedLayer>();
        foreach (var (name, module) in layers)
        {
            string label = name.Length == 0 ? $"the {module.ModuleName}" : $"layer \"{name}\" ({module.ModuleName})";
            if (!seen.Add(module)) throw new ArgumentException($"{label} appears twice in the collection; it can be recorded only once.", nameof(layers));
            IRecordedLayer? layer = module switch
            {
                NormBase<float> single => Prepare(single, name, label, weighting, skipped),
                NormBase<double> @double => Prepare(@double, name, label, weighting, skipped),
                _ => throw new ArgumentException($"{label} is not a NormSharp layer of float or double.", nameof(layers)),
            };
            if (layer is not null) recorded.Add((name, layer));
        }

        return new RecalibrationSession(recorded, skipped, layers.Select(l => l.Key).ToList(), weighting);
    }

    private static RecordedLayer<T>? Prepare<T>(NormBase<T> layer, string name, string label, RecalibrationWeighting weighting, List<RecalibratedLayer> skipped)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (layer.HasUninitializedParameters)
            throw new ArgumentException($"{label} is a lazy layer that has not been initialized: run one forward (or load a state dict) before recalibrating it.");
        if (layer.StatisticsRecorder is not null)
            throw new InvalidOperationException($"{label} is already being recorded by another recalibration session; complete or dispose that one first.");
        if (layer.RunningMean is null || layer.RunningVar is null)
        {
            skipped.Add(new RecalibratedLayer(name, layer.ModuleName, 0, layer.NumBatchesTracked, layer.NumBatchesTracked, [],
                                              "no running statistics (built with trackRunningStats: false): nothing to recalibrate"));
            return null;
        }

        return new RecordedLayer<T>(layer, name, weighting);
    }
}
