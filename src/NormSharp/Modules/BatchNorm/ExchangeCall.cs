namespace NormSharp;

/// <summary>
/// One layer's <see cref="IBatchStatisticsExchange"/>, wrapped to know whether the call in progress reached the exchange:
/// a forward or backward that fails before reaching it tells the other processes (<see cref="IBatchStatisticsExchange.Fail"/>),
/// one that fails inside it does not (the exchange has failed on every process already).
/// </summary>
internal sealed class ExchangeCall(IBatchStatisticsExchange exchange) : IBatchStatisticsExchange
{
    /// <summary>The wrapped exchange.</summary>
    public IBatchStatisticsExchange Inner { get; } = exchange;

    /// <summary>Whether the call in progress has reached the exchange.</summary>
    public bool Reached { get; private set; }

    /// <inheritdoc/>
    public int Processes => Inner.Processes;

    /// <summary>Starts a call on an input of <typeparamref name="TInput"/>: not reached yet.</summary>
    public ExchangeCall Begin<TInput>()
    {
        Reached = false;
        Inner.BeginCall<TInput>();
        return this;
    }

    /// <inheritdoc/>
    public void BeginCall<TInput>() => Inner.BeginCall<TInput>();

    /// <inheritdoc/>
    public void CombineStatistics(Span<double> mean, Span<double> m2, ref long count)
    {
        Reached = true;
        Inner.CombineStatistics(mean, m2, ref count);
    }

    /// <inheritdoc/>
    public void SumGradientStatistics(Span<double> sumDy, Span<double> sumDyXmu)
    {
        Reached = true;
        Inner.SumGradientStatistics(sumDy, sumDyXmu);
    }

    /// <inheritdoc/>
    public void Fail(Exception exception)
    {
        if (Reached) return;
        Reached = true;
        try
        {
            Inner.Fail(exception);
        }
        catch (Exception)
        {
            // This process reports its own error, the one it is throwing; the exchange's failure to pass it on is
            // reported by the other processes' exchanges.
        }
    }
}
