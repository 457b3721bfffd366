namespace NormSharp;

/// <summary>
/// A recalibration in progress (<see cref="Recalibration.Begin(NormModuleCollection, RecalibrationWeighting)"/>): run your
/// network's forward over the data, then <see cref="Complete"/>. Disposing a session that was not completed cancels it:
/// every layer gets back its running statistics, counter, mode and flags.
/// </summary>
/// <remarks>
/// While the session is open each recorded layer is in training mode (its forwards normalize with batch statistics, as
/// <c>update_bn</c>'s do) and hands the statistics of every successful forward to the session; a BatchNorm's
/// <see cref="NormBase{T}.TrackRunningStats"/> is false meanwhile, so its forwards neither blend nor count. A forward that
/// throws records nothing. Set no flag and change no mode on the layers until the session ends, and run each layer's
/// forwards one at a time (training forwards are exclusive anyway).
/// </remarks>
public sealed class RecalibrationSession : IDisposable
{
    private readonly IReadOnlyList<IRecordedLayer> recorded;
    private readonly IReadOnlyList<RecalibratedLayer> skipped;
    private readonly IReadOnlyList<string> order;
    private bool ended;

    internal RecalibrationSession(IReadOnlyList<(string Name, IRecordedLayer Layer)> recorded, IReadOnlyList<RecalibratedLayer> skipped,
                                  IReadOnlyList<string> order, RecalibrationWeighting weighting)
    {
        this.recorded = recorded.Select(r => r.Layer).ToList();
        Layers = recorded.Select(r => r.Name).ToList();
        this.skipped = skipped;
        this.order = order;
        Weighting = weighting;
        foreach (IRecordedLayer layer in this.recorded) layer.Attach();
    }

    /// <summary>The names of the layers being recorded (those with running statistics).</summary>
    public IReadOnlyList<string> Layers { get; }

    /// <summary>How batches are weighed.</summary>
    public RecalibrationWeighting Weighting { get; }

    /// <summary>
    /// Ends the session: every recorded layer that saw data gets its new running statistics and a counter equal to the
    /// batches it saw; a layer (or channel) that saw none keeps its statistics and counter. Each layer's mode and flags are
    /// restored.
    /// </summary>
    /// <returns>The report: per layer and channel, the old and new statistics.</returns>
    /// <exception cref="InvalidOperationException">The session has ended already, or a layer's running statistics were
    /// replaced by ones of another size meanwhile; nothing changed (the session stays open, and disposing it restores the
    /// layers).</exception>
    public RecalibrationReport Complete()
    {
        ObjectDisposedException.ThrowIf(ended, this);
        var plans = recorded.Select(layer => layer.Plan()).ToList();
        foreach (IRecordedLayer layer in recorded) layer.Apply();
        ended = true;
        var byName = plans.Concat(skipped).ToDictionary(l => l.Name, StringComparer.Ordinal);
        return new RecalibrationReport(Weighting, order.Select(n => byName[n]).ToList());
    }

    /// <summary>Cancels the session unless it was completed: every recorded layer gets back its running statistics,
    /// counter, mode and flags as they were when the session began.</summary>
    public void Dispose()
    {
        if (ended) return;
        ended = true;
        foreach (IRecordedLayer layer in recorded) layer.Cancel();
    }
}
