namespace NormSharp;

/// <summary>
/// A forward's statistics kept for the layer's <see cref="IStatisticsRecorder"/>: passed to the executor as its
/// <see cref="IBatchStatisticsExchange"/>, which it calls with each group's (mean, m2, count) before the running update.
/// It first hands them to the layer's own exchange, if any (SyncBatchNorm), so it keeps the whole batch's; it changes
/// nothing itself. The layer commits what it kept only when the whole forward has succeeded.
/// </summary>
internal sealed class RecordingExchange : IBatchStatisticsExchange
{
    private double[] means = [], sums = [];
    private int groups;
    private long count;
    private IBatchStatisticsExchange? inner;

    /// <summary>Starts a forward: nothing kept yet; <paramref name="layerExchange"/> is the layer's own exchange, or null.</summary>
    public RecordingExchange Begin(IBatchStatisticsExchange? layerExchange)
    {
        inner = layerExchange;
        groups = 0;
        count = 0;
        return this;
    }

    /// <inheritdoc/>
    public int Processes => inner?.Processes ?? 1;

    /// <inheritdoc/>
    public void CombineStatistics(Span<double> mean, Span<double> m2, ref long count)
    {
        inner?.CombineStatistics(mean, m2, ref count);
        if (means.Length < mean.Length)
        {
            means = new double[mean.Length];
            sums = new double[mean.Length];
        }

        mean.CopyTo(means);
        m2.CopyTo(sums);
        groups = mean.Length;
        this.count = count;
    }

    /// <inheritdoc/>
    public void SumGradientStatistics(Span<double> sumDy, Span<double> sumDyXmu) => inner?.SumGradientStatistics(sumDy, sumDyXmu);

    /// <inheritdoc/>
    public void Fail(Exception exception) => inner?.Fail(exception);

    /// <summary>Hands what this forward kept to <paramref name="recorder"/> (nothing kept: an input without values).</summary>
    public void Commit(IStatisticsRecorder recorder)
    {
        int kept = count > 0 ? groups : 0;
        recorder.Record(means.AsSpan(0, kept), sums.AsSpan(0, kept), count > 0 ? count : 0);
    }
}
