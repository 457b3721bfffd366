namespace NormSharp.Cli.Observation;

/// <summary>An observed effect of affine or momentum, the rows under the seed's summary table.</summary>
/// <param name="Attribute">"affine" or "momentum".</param>
/// <param name="Setting">The configuration observed, in words.</param>
/// <param name="Observed">What the output or the buffers showed.</param>
public sealed record AttributeObservation(string Attribute, string Setting, string Observed);
