using ScottPlot;
using ScottPlot.TickGenerators;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// The figure of <c>plot train-vs-eval</c>: on the left, test accuracy per epoch in train mode (batch statistics) and eval
/// mode (running statistics), with their gap on the right axis; on the right, the evaluation-batch-size table as grouped
/// bars, a batch of one in train mode marked as the error it is.
/// </summary>
public static class TrainVsEvalChart
{
    private static readonly Color TrainColor = Colors.C1, EvalColor = Colors.C0, TrackingOffColor = Colors.C9, GapColor = Colors.Gray;

    /// <summary>The two panels of <paramref name="experiment"/>.</summary>
    public static IReadOnlyList<ChartPanel> Create(TrainVsEvalExperiment experiment)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        return [new ChartPanel(Epochs(experiment), 0, 0, 0.58, 1), new ChartPanel(Table(experiment), 0.58, 0, 1, 1)];
    }

    private static Plot Epochs(TrainVsEvalExperiment experiment)
    {
        var plot = new Plot();
        double[] epochs = experiment.Epochs.Select(e => (double)e.Epoch).ToArray();
        var train = plot.Add.Scatter(epochs, experiment.Epochs.Select(e => 100 * e.TrainModeAccuracy).ToArray());
        train.Color = TrainColor;
        train.LineWidth = 2;
        train.MarkerSize = 4;
        train.LegendText = $"train mode (batch statistics, batches of {TrainVsEvalExperiment.BatchSize})";
        var eval = plot.Add.Scatter(epochs, experiment.Epochs.Select(e => 100 * e.EvalModeAccuracy).ToArray());
        eval.Color = EvalColor;
        eval.LineWidth = 2;
        eval.MarkerSize = 4;
        eval.LegendText = "eval mode (running statistics)";
        var gap = plot.Add.Scatter(epochs, experiment.Epochs.Select(e => 100 * e.Gap).ToArray());
        gap.Color = GapColor;
        gap.LineWidth = 1.5f;
        gap.LinePattern = LinePattern.Dashed;
        gap.MarkerSize = 0;
        gap.LegendText = "gap, train - eval (right axis)";
        gap.Axes.YAxis = plot.Axes.Right;

        plot.Title("Spirals network: test accuracy after each epoch");
        plot.XLabel("epoch");
        plot.YLabel("test accuracy (%)");
        plot.Axes.Right.Label.Text = "gap (percentage points)";
        plot.Axes.SetLimitsY(0, 105);
        double largestGap = Math.Max(5, experiment.Epochs.Max(e => Math.Abs(100 * e.Gap)) * 1.2);
        plot.Axes.SetLimitsY(-largestGap, largestGap, plot.Axes.Right);
        plot.Axes.SetLimitsX(0.5, experiment.Epochs.Count + 0.5);
        plot.Legend.Alignment = Alignment.LowerRight;
        plot.Legend.FontSize = 11;
        plot.ShowLegend();
        return plot;
    }

    private static Plot Table(TrainVsEvalExperiment experiment)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        var ticks = new List<Tick>();
        for (int i = 0; i < experiment.Table.Count; i++)
        {
            EvalBatchSizeRow row = experiment.Table[i];
            double centre = i * 4;
            bars.Add(new Bar { Position = centre - 1, Value = 100 * row.RunningStatistics, FillColor = EvalColor, Size = 0.9 });
            bars.Add(new Bar { Position = centre, Value = 100 * row.RunningWithTrackingOff, FillColor = TrackingOffColor, Size = 0.9 });
            if (row.BatchStatistics is double batchStats)
                bars.Add(new Bar { Position = centre + 1, Value = 100 * batchStats, FillColor = TrainColor, Size = 0.9 });
            else
            {
                var error = plot.Add.Text("error", centre + 1, 2);
                error.LabelFontColor = Colors.Red;
                error.LabelFontName = PlotFont.Family;
                error.LabelFontSize = 11;
                error.LabelRotation = -90;
                error.LabelAlignment = Alignment.MiddleLeft;
            }

            ticks.Add(new Tick(centre, row.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = new NumericManual([.. ticks]);
        plot.Title("Accuracy by evaluation batch size");
        plot.XLabel("evaluation batch size (points)");
        plot.YLabel("test accuracy (%)");
        plot.Axes.SetLimitsY(0, 125);
        plot.Axes.SetLimitsX(-2.2, 4 * experiment.Table.Count - 1.8);
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "Eval()", FillColor = EvalColor });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "Eval(), tracking off", FillColor = TrackingOffColor });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "Train(), tracking off", FillColor = TrainColor });
        plot.Legend.Alignment = Alignment.UpperCenter;
        plot.Legend.FontSize = 10;
        plot.ShowLegend();
        return plot;
    }
}
