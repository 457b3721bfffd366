using System.Globalization;
using System.Text;

namespace NormSharp;

/// <summary>
/// What a recalibration changed: per layer, what it saw; per channel, the old and new running statistics and how far the
/// mean moved in old standard deviations. <see cref="ToTable"/> prints it.
/// </summary>
public sealed class RecalibrationReport
{
    internal RecalibrationReport(RecalibrationWeighting weighting, IReadOnlyList<RecalibratedLayer> layers)
    {
        Weighting = weighting;
        Layers = layers;
        Channels = layers.SelectMany(l => l.Channels).OrderByDescending(c => ShiftSize(c)).ToList();
    }

    /// <summary>How batches were weighed.</summary>
    public RecalibrationWeighting Weighting { get; }

    /// <summary>Every layer of the session, in the collection's order (skipped ones included).</summary>
    public IReadOnlyList<RecalibratedLayer> Layers { get; }

    /// <summary>Every channel of every recorded layer, the largest |<see cref="RecalibratedChannel.MeanShift"/>| first (a
    /// NaN or infinite shift, from an old variance of 0 or NaN, before all others).</summary>
    public IReadOnlyList<RecalibratedChannel> Channels { get; }

    /// <summary>The report as text: a line per layer, then the <paramref name="largest"/> channels whose means moved most.</summary>
    /// <param name="largest">How many channels to list (the rest are counted).</param>
    /// <example>
    /// <code>
    /// Recalibrated (per sample): 1 of 1 layer(s) updated, 3 channel(s)
    ///
    /// | layer | module      | batches | counter | n per channel | result  | largest |shift| |
    /// | ----- | ----------- | ------- | ------- | ------------- | ------- | --------------- |
    /// | -     | BatchNorm1d | 1       | 0 -> 1  | 2             | updated | 4               |
    ///
    /// Largest mean shifts, in old standard deviations (shift = (new mean - old mean) / sqrt(old var)):
    ///
    /// | layer | channel | old mean | new mean | shift | old var | new var | var ratio |
    /// | ----- | ------- | -------- | -------- | ----- | ------- | ------- | --------- |
    /// | -     | 2       | -2       | -4       | -4    | 0.25    | 2       | 8         |
    /// </code>
    /// </example>
    public string ToTable(int largest = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(largest);
        var text = new StringBuilder();
        int channelCount = Layers.Sum(l => l.Channels.Count);
        text.Append(CultureInfo.InvariantCulture, $"Recalibrated ({(Weighting == RecalibrationWeighting.PerSample ? "per sample" : "per batch, as update_bn")}): ")
            .Append(CultureInfo.InvariantCulture, $"{Layers.Count(l => l.Updated)} of {Layers.Count} layer(s) updated, {channelCount} channel(s)\n\n");

        var layerRows = Layers.Select(l => new[]
        {
            LayerName(l), l.Module, l.Batches.ToString(CultureInfo.InvariantCulture),
            $"{Counter(l.CounterBefore)} -> {Counter(l.CounterAfter)}",
            l.Skipped is not null || l.Channels.Count == 0 ? "-" : l.Channels.Max(c => c.Count).ToString(CultureInfo.InvariantCulture),
            l.Skipped ?? (l.ChannelsWithoutData == 0 ? "updated" : l.ChannelsWithoutData == l.Channels.Count ? "no data: unchanged" : $"{l.ChannelsWithoutData} channel(s) without data: unchanged"),
            l.Channels.Count == 0 ? "-" : Number(l.Channels.Select(c => Math.Abs(c.MeanShift)).Max()),
        }).ToList();
        Table(text, ["layer", "module", "batches", "counter", "n per channel", "result", "largest |shift|"], layerRows);

        var channelRows = Channels.Take(largest).Select(c => new[]
        {
            c.Layer.Length == 0 ? "-" : c.Layer, c.Channel.ToString(CultureInfo.InvariantCulture),
            Number(c.OldMean), Number(c.NewMean), Number(c.MeanShift), Number(c.OldVar), Number(c.NewVar), Number(c.VarianceRatio),
        }).ToList();
        if (channelRows.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"\nLargest mean shifts, in old standard deviations (shift = (new mean - old mean) / sqrt(old var)):\n\n");
            Table(text, ["layer", "channel", "old mean", "new mean", "shift", "old var", "new var", "var ratio"], channelRows);
            if (Channels.Count > largest) text.Append(CultureInfo.InvariantCulture, $"... and {Channels.Count - largest} more channel(s)\n");
        }

        return text.ToString();
    }

    /// <inheritdoc cref="ToTable"/>
    public override string ToString() => ToTable();

    private static double ShiftSize(RecalibratedChannel channel) =>
        double.IsNaN(channel.MeanShift) ? double.PositiveInfinity : Math.Abs(channel.MeanShift);

    private static string LayerName(RecalibratedLayer layer) => layer.Name.Length == 0 ? "-" : layer.Name;

    private static string Counter(long? counter) => counter?.ToString(CultureInfo.InvariantCulture) ?? "none";

    private static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    private static void Table(StringBuilder text, string[] headers, List<string[]> rows)
    {
        int[] widths = headers.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        void Row(IReadOnlyList<string> cells) =>
            text.Append("| ").Append(string.Join(" | ", cells.Select((cell, i) => cell.PadRight(widths[i])))).Append(" |\n");
        Row(headers);
        Row(widths.Select(w => new string('-', w)).ToArray());
        foreach (string[] row in rows) Row(row);
    }
}
