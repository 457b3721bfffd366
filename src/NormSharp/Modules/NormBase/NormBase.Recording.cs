namespace NormSharp;

public abstract partial class NormBase<T>
{
    private RecordingExchange? recordingExchange;

    /// <summary>
    /// The recalibration hook (<see cref="Recalibration"/>): while set, every forward that normalizes with input
    /// statistics hands them, once it has succeeded, to this recorder. Nothing else about the forward changes. Set and
    /// cleared only by a recalibration session, while no call runs on the layer.
    /// </summary>
    internal IStatisticsRecorder? StatisticsRecorder { get; set; }

    /// <summary>For a forward about to normalize with input statistics while a recorder is set: the exchange to hand the
    /// executor, which keeps the statistics after passing them through <paramref name="layerExchange"/> (the layer's own, or
    /// null). Null when nothing is recorded.</summary>
    private protected RecordingExchange? BeginRecording(bool usesInputStatistics, IBatchStatisticsExchange? layerExchange)
    {
        if (!usesInputStatistics || StatisticsRecorder is null) return null;
        recordingExchange ??= new RecordingExchange();
        return recordingExchange.Begin(layerExchange);
    }

    /// <summary>Called when the forward has succeeded: hands the kept statistics to the recorder.</summary>
    private protected void CommitRecording(RecordingExchange? recording)
    {
        if (recording is not null && StatisticsRecorder is { } recorder) recording.Commit(recorder);
    }
}
