using ScottPlot;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// The figure of <c>plot running-stats</c>: running_mean above, running_var below, against the step; one line per momentum,
/// the batch statistics as points, the population's value as a dashed line and the step where it shifts as a vertical line.
/// </summary>
public static class RunningStatsChart
{
    /// <summary>The two panels of <paramref name="experiment"/>.</summary>
    public static IReadOnlyList<ChartPanel> Create(RunningStatsExperiment experiment)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        ShiftingPopulation population = experiment.Population;
        Plot mean = Panel(experiment, "running_mean", "(units of x)", experiment.BatchMeans, population.Mean, s => s.RunningMean);
        Plot variance = Panel(experiment, "running_var", "(units of x²)", experiment.BatchVariances, population.Variance, s => s.RunningVar);
        // One legend: the lines have the same colours in both panels.
        mean.Legend.Alignment = Alignment.UpperLeft;
        mean.ShowLegend();
        variance.HideLegend();
        mean.Title($"BatchNorm1d running statistics: the population shifts at step {population.ShiftStep} (batch {population.Batch})");
        return [new ChartPanel(mean, 0, 0, 1, 0.5), new ChartPanel(variance, 0, 0.5, 1, 1)];
    }

    private static Plot Panel(RunningStatsExperiment experiment, string buffer, string unit, IReadOnlyList<double> batchValues,
                              Func<int, double> populationValue, Func<RunningStatsSeries, IReadOnlyList<float>> seriesValues)
    {
        int steps = experiment.Population.Steps;
        var plot = new Plot();
        double[] stepsAxis = Enumerable.Range(1, steps).Select(s => (double)s).ToArray();

        var points = plot.Add.ScatterPoints(stepsAxis, batchValues.ToArray());
        points.MarkerSize = 3;
        points.Color = Colors.Gray.WithAlpha(0.55);
        points.LegendText = "batch statistics";

        double[] populationSteps = Enumerable.Range(0, steps + 1).Select(s => (double)s).ToArray();
        var truth = plot.Add.ScatterLine(populationSteps, populationSteps.Select(s => populationValue(Math.Max((int)s, 1))).ToArray());
        truth.Color = Colors.Black;
        truth.LineWidth = 2;
        truth.LinePattern = LinePattern.Dashed;
        truth.LegendText = "population";

        Color[] palette = [Colors.C0, Colors.C1, Colors.C2, Colors.C3, Colors.C4, Colors.C5, Colors.C6, Colors.C7, Colors.C8, Colors.C9];
        int index = 0;
        foreach (RunningStatsSeries series in experiment.Series)
        {
            var line = plot.Add.ScatterLine(populationSteps, seriesValues(series).Select(v => (double)v).ToArray());
            line.Color = palette[index++ % palette.Length];
            line.LineWidth = 2.5f;
            line.LegendText = series.Momentum is null ? "momentum=None (cumulative average)" : $"momentum={series.MomentumText} (EMA)";
        }

        var shift = plot.Add.VerticalLine(experiment.Population.ShiftStep - 0.5);
        shift.Color = Colors.Red.WithAlpha(0.6);
        shift.LinePattern = LinePattern.Dotted;
        shift.LineWidth = 1.5f;

        plot.XLabel("step (batches seen)");
        plot.YLabel($"{buffer} {unit}");
        plot.Axes.SetLimitsX(0, steps);
        plot.Legend.FontSize = 11;
        plot.Legend.SymbolWidth = 18;
        return plot;
    }
}
