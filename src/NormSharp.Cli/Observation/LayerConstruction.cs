namespace NormSharp.Cli.Observation;

/// <summary>The arguments an <c>explain --steps</c> layer was built with, before any step ran (a new layer is in
/// training mode).</summary>
/// <param name="ModuleName">PyTorch's class name, e.g. <c>BatchNorm2d</c>.</param>
/// <param name="NumFeatures">C.</param>
/// <param name="Eps">eps.</param>
/// <param name="Momentum">momentum (null: PyTorch's None, the cumulative average).</param>
/// <param name="Affine">affine.</param>
/// <param name="TrackRunningStats">track_running_stats.</param>
public sealed record LayerConstruction(string ModuleName, int NumFeatures, double Eps, double? Momentum, bool Affine, bool TrackRunningStats)
{
    /// <summary>The statistics policies a new layer has: PyTorch's behaviour.</summary>
    public PolicySettings Policies { get; init; } = PolicySettings.Defaults;
}
