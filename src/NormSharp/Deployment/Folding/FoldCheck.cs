namespace NormSharp;

/// <summary>
/// How well a fold reproduces what it replaces, measured on a probe input: the preceding layer with its original weight
/// and bias followed by the normalization in evaluation, against the same layer with the folded weight and bias, both
/// evaluated in double by plain reference loops (stride 1, no padding: the fold does not depend on them).
/// </summary>
/// <param name="ProbeShape">The probe input's shape: (2, in) for a linear layer, (1, in, spatial...) for a convolution.</param>
/// <param name="MaxAbsoluteDifference">The largest |difference| between the two outputs.</param>
/// <param name="MaxAbsoluteOutput">The largest |output| of the original pair, the scale of the difference.</param>
public sealed record FoldCheck(IReadOnlyList<long> ProbeShape, double MaxAbsoluteDifference, double MaxAbsoluteOutput)
{
    /// <summary><c>MaxAbsoluteDifference / max(MaxAbsoluteOutput, 1)</c>: about the element type's rounding (1e-7 for float,
    /// 1e-16 for double) when the fold is right.</summary>
    public double RelativeDifference => MaxAbsoluteDifference / Math.Max(MaxAbsoluteOutput, 1.0);
}
