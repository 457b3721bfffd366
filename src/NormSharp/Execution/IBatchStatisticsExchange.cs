namespace NormSharp;

/// <summary>
/// Makes the batches of several processes one batch for a batch normalization layer (SyncBatchNorm): a training
/// forward's per-channel statistics and its backward's per-channel sums are combined over every process, so that each
/// process normalizes its share of the batch exactly as one layer would normalize the whole batch.
/// </summary>
/// <remarks>
/// <para>A <see cref="BatchNorm{T}"/> whose <c>StatisticsExchange</c> returns an exchange with more than one process
/// calls it in every forward that normalizes with batch statistics in training mode (never in evaluation mode), and in
/// the backward of such a forward. Each process computes its local statistics in double; the exchange replaces them
/// with the whole batch's. The layer then finishes exactly as a local forward would: invStd = 1 / sqrt(m2 / count + eps),
/// the running mean moves towards the mean and the running variance towards the unbiased m2 / (count - 1).</para>
/// <para>Every process calls the methods in the same order, including a process whose share of the batch is empty
/// (count 0, every value 0). A method that throws leaves the layer unchanged; it should throw on every process alike.</para>
/// </remarks>
public interface IBatchStatisticsExchange
{
    /// <summary>The number of processes whose batches form one batch. 1: the layer is a plain BatchNorm and the
    /// exchange is never called.</summary>
    int Processes { get; }

    /// <summary>
    /// Called when a forward or backward that uses the exchange begins, before <see cref="CombineStatistics"/>,
    /// <see cref="SumGradientStatistics"/> or <see cref="Fail"/>: <typeparamref name="TInput"/> is the element type of that
    /// call's input (the layer's float or double, or <see cref="Half"/> or <see cref="BFloat16"/> in a float layer's
    /// mixed-precision call), for an exchange that checks that every process runs the same precision. The default does
    /// nothing.
    /// </summary>
    /// <typeparam name="TInput">The element type of the call's input (of dy in a backward).</typeparam>
    void BeginCall<TInput>()
    {
    }

    /// <summary>
    /// Forward: replaces this process's per-channel statistics with those of every process's batch together.
    /// </summary>
    /// <param name="mean">Per channel: this process's batch mean in; the whole batch's mean out.</param>
    /// <param name="m2">Per channel: this process's sum of squared deviations from its mean, Σ(x - mean)², in; the whole
    /// batch's out.</param>
    /// <param name="count">The number of values each channel's statistics are taken over: this process's in (0 for an
    /// empty share); the whole batch's out.</param>
    void CombineStatistics(Span<double> mean, Span<double> m2, ref long count);

    /// <summary>
    /// Backward: replaces this process's per-channel sums Σ dy and Σ dy·(x - mean) with their sums over every process.
    /// </summary>
    /// <param name="sumDy">Per channel: Σ dy over this process's share in; over the whole batch out.</param>
    /// <param name="sumDyXmu">Per channel: Σ dy·(x - mean) over this process's share in; over the whole batch out.</param>
    void SumGradientStatistics(Span<double> sumDy, Span<double> sumDyXmu);

    /// <summary>
    /// Called instead of <see cref="CombineStatistics"/> or <see cref="SumGradientStatistics"/> when this process's
    /// forward or backward fails before reaching it (a check failed), so that the other processes, waiting in theirs,
    /// fail too instead of waiting for ever.
    /// </summary>
    /// <param name="exception">The exception this process's call is about to throw.</param>
    void Fail(Exception exception);
}
