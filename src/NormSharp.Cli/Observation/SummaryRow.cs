namespace NormSharp.Cli.Observation;

/// <summary>
/// One row of the seed's summary table, every cell observed by running a real layer on a real batch.
/// </summary>
/// <param name="Mode">"train" or "eval".</param>
/// <param name="TrackAtConstruction">trackRunningStats passed to the constructor.</param>
/// <param name="TrackNow">TrackRunningStats at the time of the forward.</param>
/// <param name="NormalizedWith">"batch" when the output has per-channel mean 0 and biased variance 1
/// (before affine), "running" when it equals (x - running_mean) / sqrt(running_var + eps).</param>
/// <param name="RunningStatsUpdated">Whether running_mean/running_var changed; null when they do not exist.</param>
/// <param name="CounterIncremented">Whether num_batches_tracked changed; null when it does not exist.</param>
/// <param name="SingleValueError">Whether a (1, C, 1, ...) input is rejected.</param>
/// <param name="UpdateMatches">When updated: the averages the new values were checked against (e.g. "var_u; EMA or CMA").</param>
/// <param name="Error">When the forward itself fails in this combination: its message (left out of the JSON otherwise).</param>
public sealed record SummaryRow(
    string Mode,
    bool TrackAtConstruction,
    bool TrackNow,
    string NormalizedWith,
    bool? RunningStatsUpdated,
    bool? CounterIncremented,
    bool SingleValueError,
    [property: System.Text.Json.Serialization.JsonIgnore] string? UpdateMatches,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Error = null);
