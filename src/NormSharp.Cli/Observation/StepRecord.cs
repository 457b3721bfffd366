namespace NormSharp.Cli.Observation;

/// <summary>What one step of a script did, as observed on the layer.</summary>
/// <param name="Step">The step as written.</param>
/// <param name="Training">The mode after the step.</param>
/// <param name="TrackRunningStats">The flag after the step.</param>
/// <param name="Momentum">The momentum after the step (null: cumulative average).</param>
/// <param name="Eps">eps after the step.</param>
/// <param name="Affine">The affine flag after the step (text output only: the JSON keeps its fields).</param>
/// <param name="InputShape">For a forward: the input's shape.</param>
/// <param name="NormalizedWith">For a forward that ran: "batch" or "running", from the plan the forward executed.</param>
/// <param name="Reasons">For a forward: the plan's reasons.</param>
/// <param name="IneffectiveChanges">For a forward: attribute changes the forward ignored.</param>
/// <param name="Error">The error the step threw (nothing changed), or null.</param>
/// <param name="RunningMeanBefore">running_mean before the step (null without buffers).</param>
/// <param name="RunningMeanAfter">running_mean after the step.</param>
/// <param name="RunningVarBefore">running_var before the step.</param>
/// <param name="RunningVarAfter">running_var after the step.</param>
/// <param name="CounterBefore">num_batches_tracked before the step.</param>
/// <param name="CounterAfter">num_batches_tracked after the step.</param>
/// <param name="Policies">The layer's statistics policies after the step.</param>
/// <param name="Warnings">The warnings the step raised (NormWarnings), in order.</param>
public sealed record StepRecord(
    string Step,
    bool Training,
    bool TrackRunningStats,
    double? Momentum,
    double Eps,
    [property: System.Text.Json.Serialization.JsonIgnore] bool Affine,
    IReadOnlyList<long>? InputShape,
    string? NormalizedWith,
    IReadOnlyList<string>? Reasons,
    IReadOnlyList<string>? IneffectiveChanges,
    string? Error,
    double[]? RunningMeanBefore,
    double[]? RunningMeanAfter,
    double[]? RunningVarBefore,
    double[]? RunningVarAfter,
    long? CounterBefore,
    long? CounterAfter,
    PolicySettings Policies,
    IReadOnlyList<string> Warnings);
