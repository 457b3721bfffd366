using ScottPlot;
using ScottPlot.TickGenerators;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// The figure of <c>plot checkpoint</c>: three panels stacked over the same layers (running_mean, running_var, weight),
/// each with its own value axis, one strip of per-channel values per layer with a line from the smallest to the largest;
/// values that inspect flags are red crosses (drawn at the panel's edge when they cannot be drawn: NaN, infinite, or not
/// above 0 on a logarithmic axis), and layers with any anomaly are shaded red and marked <c>(!)</c> under the axis.
/// running_var is drawn on a logarithmic axis when its positive values span more than a factor of
/// <see cref="LogarithmicSpread"/>, so that one large variance does not flatten the others.
/// </summary>
public static class CheckpointChart
{
    private static readonly string[] TensorNames = ["running_mean", "running_var", "weight"];
    private static readonly Color[] TensorColors = [Colors.C0, Colors.C1, Colors.C2];
    private static readonly Color FlagColor = Colors.Red, AnomalyShade = Colors.Red.WithAlpha(0.1);
    private const double Jitter = 0.05;

    /// <summary>The ratio of the largest to the smallest positive running_var above which its axis is logarithmic.</summary>
    public const double LogarithmicSpread = 1000;

    /// <summary>The three panels for <paramref name="layers"/> of the checkpoint named <paramref name="fileName"/>.</summary>
    public static IReadOnlyList<ChartPanel> Create(string fileName, IReadOnlyList<CheckpointLayerValues> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var plots = new Plot[3];
        for (int t = 0; t < 3; t++) plots[t] = Panel(layers, t, bottom: t == 2);
        plots[0].Title($"{fileName}: {layers.Count} normalization layer(s), values per channel");
        if (layers.Count <= 4) plots[2].XLabel("layer");
        plots[0].Legend.ManualItems.Add(new LegendItem { LabelText = "value flagged by inspect", MarkerColor = FlagColor, MarkerShape = MarkerShape.Cross, MarkerSize = 9, MarkerLineWidth = 2, LineWidth = 0 });
        plots[0].Legend.ManualItems.Add(new LegendItem { LabelText = "layer with anomalies (!)", FillColor = AnomalyShade.WithAlpha(0.35) });
        plots[0].Legend.FontSize = 10;
        plots[0].Legend.Alignment = Alignment.UpperRight;
        plots[0].ShowLegend();

        // The bottom panel also holds the layer names (slanted when there are many); every panel gets the same left margin
        // so that the strips line up.
        int longest = layers.Max(l => Label(l).Length + 4);
        float nameRoom = layers.Count > 4 ? Math.Min(170, 12 + 3.6f * longest) : 30;
        plots[2].Axes.Bottom.MinimumSize = nameRoom;
        double tickRoom = nameRoom / 500.0;
        double top = 0.36 - tickRoom / 3, middle = 0.64 - 2 * tickRoom / 3;
        foreach (Plot plot in plots) plot.Axes.Left.MinimumSize = 72;
        return [new ChartPanel(plots[0], 0, 0, 1, top), new ChartPanel(plots[1], 0, top, 1, middle), new ChartPanel(plots[2], 0, middle, 1, 1)];
    }

    private static Plot Panel(IReadOnlyList<CheckpointLayerValues> layers, int tensor, bool bottom)
    {
        var plot = new Plot();
        string name = TensorNames[tensor];
        double[][] all = layers.Select(l => l.Tensors.ElementAt(tensor).Values ?? []).ToArray();
        double[] positive = all.SelectMany(v => v).Where(v => v > 0 && double.IsFinite(v)).ToArray();
        bool logarithmic = tensor == 1 && positive.Length > 1 && positive.Max() > LogarithmicSpread * positive.Min();
        double[] drawable = all.SelectMany(v => v).Where(v => double.IsFinite(v) && (!logarithmic || v > 0)).Select(v => logarithmic ? Math.Log10(v) : v).ToArray();
        double low = drawable.Length == 0 ? 0 : drawable.Min(), high = drawable.Length == 0 ? 1 : drawable.Max();
        double pad = Math.Max(1e-9, (high - low) * 0.08);
        double edge = low - pad; // where a value that cannot be drawn is shown
        // The top panel leaves room above the data for the legend.
        double headroom = tensor == 0 ? (high - low + 2 * pad) * 0.7 : 0;

        var ticks = new List<Tick>();
        for (int i = 0; i < layers.Count; i++)
        {
            bool anomalous = layers[i].Report.Anomalies.Count > 0;
            if (anomalous)
            {
                var shade = plot.Add.HorizontalSpan(i - 0.48, i + 0.48);
                shade.FillStyle.Color = AnomalyShade;
                shade.LineStyle.Width = 0;
            }

            ticks.Add(new Tick(i, bottom ? Label(layers[i]) + (anomalous ? " (!)" : "") : ""));
            double[] values = all[i];
            if (values.Length == 0) continue;
            double Shown(double v) => double.IsFinite(v) && (!logarithmic || v > 0) ? (logarithmic ? Math.Log10(v) : v) : edge;
            double[] inRange = values.Where(v => double.IsFinite(v) && (!logarithmic || v > 0)).Select(Shown).ToArray();
            if (inRange.Length > 0)
            {
                var range = plot.Add.Line(i - 4 * Jitter, inRange.Min(), i - 4 * Jitter, inRange.Max());
                range.LineColor = TensorColors[tensor].WithAlpha(0.5);
                range.LineWidth = 2;
            }

            var xs = new List<double>();
            var ys = new List<double>();
            var flaggedX = new List<double>();
            var flaggedY = new List<double>();
            for (int c = 0; c < values.Length; c++)
            {
                double position = i + ((c % 7) - 3) * Jitter;
                if (CheckpointLayerValues.IsFlagged(name, values[c])) { flaggedX.Add(position); flaggedY.Add(Shown(values[c])); }
                else { xs.Add(position); ys.Add(Shown(values[c])); }
            }

            var points = plot.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
            points.Color = TensorColors[tensor];
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

        plot.Axes.Bottom.TickGenerator = new NumericManual([.. ticks]);
        if (bottom && layers.Count > 4)
        {
            // Long names side by side would overlap: slanted, each starting under its layer.
            plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        }

        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        // Slanted names run to the right of their layer: room for the last one.
        double nameRun = layers.Count > 4 ? Math.Min(2.5, 0.055 * layers.Max(l => Label(l).Length + 4)) : 0;
        plot.Axes.SetLimitsX(-0.6, layers.Count - 0.4 + nameRun);
        plot.Axes.SetLimitsY(edge - pad * 0.5, high + pad + headroom);
        if (logarithmic)
            plot.Axes.Left.TickGenerator = new NumericAutomatic
            {
                IntegerTicksOnly = true,
                MinorTickGenerator = new LogMinorTickGenerator(),
                LabelFormatter = y => Math.Pow(10, y).ToString("G3", System.Globalization.CultureInfo.InvariantCulture),
            };
        plot.YLabel(name + (logarithmic ? " (log)" : ""));
        plot.Axes.Left.Label.FontSize = 11;
        return plot;
    }

    private static string Label(CheckpointLayerValues layer) => layer.Report.Name.Length == 0 ? "(root)" : layer.Report.Name;

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
