namespace NormSharp;

/// <summary>One layer of a recalibration: what it saw and how its statistics changed.</summary>
/// <param name="Name">The layer's name in the collection (empty for a single layer).</param>
/// <param name="Module">The PyTorch class name, e.g. <c>BatchNorm2d</c>.</param>
/// <param name="Batches">Forwards recorded (batches seen), empty ones included.</param>
/// <param name="CounterBefore">num_batches_tracked before (null: the layer has no counter).</param>
/// <param name="CounterAfter">num_batches_tracked after: <paramref name="Batches"/> when the layer saw data, else unchanged.</param>
/// <param name="Channels">Every channel, in channel order (empty when the layer was skipped).</param>
/// <param name="Skipped">Why the layer was left out (it has no running statistics), or null.</param>
public sealed record RecalibratedLayer(string Name, string Module, long Batches, long? CounterBefore, long? CounterAfter,
                                       IReadOnlyList<RecalibratedChannel> Channels, string? Skipped)
{
    /// <summary>Whether the layer's statistics were written (it saw data).</summary>
    public bool Updated => Skipped is null && Channels.Any(c => c.HasData);

    /// <summary>Channels that saw no data (left unchanged).</summary>
    public int ChannelsWithoutData => Channels.Count(c => !c.HasData);
}
