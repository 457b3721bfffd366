using System.Globalization;

namespace NormSharp.Oracle.Tests.Cases;

/// <summary>What one step of a random sequence does.</summary>
public enum StepKind
{
    Forward,
    ForwardOneValuePerChannel,
    ForwardEmptyBatch,
    ForwardChannelMismatch,
    ForwardWrongRank,
    ForwardUnbatched,
    Train,
    Eval,
    SetTrackRunningStats,
    SetMomentum,
    SetEps,
    SetAffine,
    ResetRunningStats,
    ResetParameters,
}

/// <summary>One call on the layer: a forward (with its batch size) or an attribute change.</summary>
/// <param name="Kind">What the step does.</param>
/// <param name="Batch">For forwards: N.</param>
/// <param name="Flag">For SetTrackRunningStats / SetAffine: the new value.</param>
/// <param name="Number">For SetMomentum (null = cumulative average) / SetEps: the new value.</param>
public sealed record OracleStep(StepKind Kind, int Batch = 0, bool Flag = false, double? Number = null)
{
    public bool IsForward => Kind <= StepKind.ForwardUnbatched;

    public override string ToString() => Kind switch
    {
        StepKind.Forward => $"forward(N={Batch})",
        StepKind.ForwardOneValuePerChannel => "forward(one value per channel)",
        StepKind.ForwardEmptyBatch => "forward(N=0)",
        StepKind.ForwardChannelMismatch => $"forward(N={Batch}, C+1)",
        StepKind.ForwardWrongRank => $"forward(N={Batch}, wrong rank)",
        StepKind.ForwardUnbatched => "forward(no batch dimension)",
        StepKind.SetTrackRunningStats => $"TrackRunningStats={Flag}",
        StepKind.SetAffine => $"Affine={Flag}",
        StepKind.SetMomentum => $"Momentum={(Number is double m ? m.ToString("R", CultureInfo.InvariantCulture) : "null")}",
        StepKind.SetEps => $"Eps={Number?.ToString("R", CultureInfo.InvariantCulture)}",
        _ => Kind.ToString(),
    };
}
