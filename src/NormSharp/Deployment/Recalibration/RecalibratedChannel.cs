namespace NormSharp;

/// <summary>One channel of a recalibrated layer: its running statistics before and after.</summary>
/// <param name="Layer">The layer's name in the collection (empty for a single layer).</param>
/// <param name="Channel">The channel's index.</param>
/// <param name="Count">What the new statistics are taken over: values of the channel (BatchNorm), or samples (InstanceNorm,
/// whose statistics are per sample). 0: the channel saw no data and was left unchanged.</param>
/// <param name="OldMean">running_mean before.</param>
/// <param name="OldVar">running_var before.</param>
/// <param name="NewMean">running_mean after, as stored.</param>
/// <param name="NewVar">running_var after, as stored.</param>
public sealed record RecalibratedChannel(string Layer, int Channel, long Count, double OldMean, double OldVar, double NewMean, double NewVar)
{
    /// <summary>Whether the channel saw any data (if not, its statistics were left unchanged).</summary>
    public bool HasData => Count > 0;

    /// <summary>How far the mean moved, in old standard deviations: <c>(NewMean - OldMean) / sqrt(OldVar)</c>.</summary>
    public double MeanShift => (NewMean - OldMean) / Math.Sqrt(OldVar);

    /// <summary><c>NewVar / OldVar</c>.</summary>
    public double VarianceRatio => NewVar / OldVar;
}
