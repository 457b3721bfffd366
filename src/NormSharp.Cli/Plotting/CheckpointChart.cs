using ScottPlot;
using ScottPlot.TickGenerators;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// The figure of <c>plot checkpoint</c>: for each normalization layer, three strips of per-channel values (running_mean,
/// running_var, weight) with a line from the smallest to the largest; values that inspect flags are red crosses, and layers
/// with any anomaly are shaded red and marked <c>(!)</c> under the axis.
/// </summary>
public static class CheckpointChart
{
    private static readonly string[] TensorNames = ["running_mean", "running_var", "weight"];
    private static readonly Color[] TensorColors = [Colors.C0, Colors.C1, Colors.C2];
    private static readonly Color FlagColor = Colors.Red, AnomalyShade = Colors.Red.WithAlpha(0.1);
    private const double StripOffset = 0.27, Jitter = 0.022;

    /// <summary>The one panel for <paramref name="layers"/> of the checkpoint named <paramref name="fileName"/>.</summary>
    public static IReadOnlyList<ChartPanel> Create(string fileName, IReadOnlyList<CheckpointLayerValues> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var plot = new Plot();
        var ticks = new List<Tick>();
        for (int i = 0; i < layers.Count; i++)
        {
            CheckpointLayerValues layer = layers[i];
            bool anomalous = layer.Report.Anomalies.Count > 0;
            if (anomalous)
            {
                var shade = plot.Add.HorizontalSpan(i - 0.48, i + 0.48);
                shade.FillStyle.Color = AnomalyShade;
                shade.LineStyle.Width = 0;
            }

            int t = 0;
            foreach (var (name, values) in layer.Tensors)
            {
                double x = i + (t - 1) * StripOffset;
                Color color = TensorColors[t++];
                if (values is null || values.Length == 0) continue;
                double[] finite = values.Where(double.IsFinite).ToArray();
                if (finite.Length > 0)
                {
                    var range = plot.Add.Line(x, finite.Min(), x, finite.Max());
                    range.LineColor = color.WithAlpha(0.5);
                    range.LineWidth = 2;
                }

                var xs = new List<double>();
                var ys = new List<double>();
                var flaggedX = new List<double>();
                var flaggedY = new List<double>();
                for (int c = 0; c < values.Length; c++)
                {
                    double position = x + ((c % 7) - 3) * Jitter;
                    // A value that cannot be drawn (NaN, infinite) is a red cross at 0.
                    double shown = double.IsFinite(values[c]) ? values[c] : 0;
                    if (CheckpointLayerValues.IsFlagged(name, values[c])) { flaggedX.Add(position); flaggedY.Add(shown); }
                    else { xs.Add(position); ys.Add(shown); }
                }

                var points = plot.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
                points.Color = color;
                points.MarkerSize = 4;
                if (flaggedX.Count > 0)
                {
                    var flagged = plot.Add.ScatterPoints(flaggedX.ToArray(), flaggedY.ToArray());
                    flagged.Color = FlagColor;
                    flagged.MarkerShape = MarkerShape.Cross;
                    flagged.MarkerSize = 10;
                    flagged.MarkerLineWidth = 2;
                }
            }

            string label = layer.Report.Name.Length == 0 ? "(root)" : layer.Report.Name;
            ticks.Add(new Tick(i, anomalous ? label + " (!)" : label));
        }

        plot.Axes.Bottom.TickGenerator = new NumericManual([.. ticks]);
        if (layers.Count > 4)
        {
            // Long names side by side would overlap: slanted, each starting under its layer.
            plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            float longest = ticks.Max(t => t.Label.Length);
            plot.Axes.Bottom.MinimumSize = Math.Min(200, 20 + 3.5f * longest);
        }

        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        plot.Axes.SetLimitsX(-0.6, layers.Count - 0.4);
        plot.Title($"{fileName}: {layers.Count} normalization layer(s), values per channel");
        plot.XLabel("layer (strips: running_mean, running_var, weight)");
        plot.YLabel("value (input units; running_var: squared)");
        for (int t = 0; t < 3; t++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = TensorNames[t], MarkerColor = TensorColors[t], MarkerShape = MarkerShape.FilledCircle, MarkerSize = 7, LineWidth = 0 });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "value flagged by inspect", MarkerColor = FlagColor, MarkerShape = MarkerShape.Cross, MarkerSize = 9, MarkerLineWidth = 2, LineWidth = 0 });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "layer with anomalies (!)", FillColor = AnomalyShade.WithAlpha(0.35) });
        plot.Legend.FontSize = 11;
        plot.ShowLegend(Edge.Right);
        return [ChartPanel.Whole(plot)];
    }

    /// <summary>The data as CSV: one row per value (<c>layer</c>, <c>tensor</c>, <c>channel</c>, <c>value</c>, whether
    /// inspect flags it), with the layer's anomalies in words (separated by <c>; </c>) on each of its rows.</summary>
    public static CsvTable ToCsv(IReadOnlyList<CheckpointLayerValues> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var table = new CsvTable("layer", "tensor", "channel", "value", "flagged", "layer_anomalies");
        foreach (CheckpointLayerValues layer in layers)
        {
            string anomalies = string.Join("; ", layer.Report.Anomalies);
            foreach (var (name, values) in layer.Tensors)
                for (int c = 0; c < (values?.Length ?? 0); c++)
                    table.Add(layer.Report.Name, name, c, values![c], CheckpointLayerValues.IsFlagged(name, values[c]) ? "true" : "false", anomalies);
        }

        return table;
    }
}
