using System.Numerics.Tensors;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// What <c>plot running-stats</c> draws: one <see cref="BatchNorm1d"/> per momentum, all in training mode and fed the
/// same batches of a <see cref="ShiftingPopulation"/>, with their running statistics read after every forward, and each
/// batch's own mean and unbiased variance (what the running statistics are blended towards).
/// </summary>
public sealed class RunningStatsExperiment
{
    private RunningStatsExperiment(ShiftingPopulation population, IReadOnlyList<double> batchMeans, IReadOnlyList<double> batchVariances,
                                   IReadOnlyList<RunningStatsSeries> series)
    {
        Population = population;
        BatchMeans = batchMeans;
        BatchVariances = batchVariances;
        Series = series;
    }

    /// <summary>The stream the layers saw.</summary>
    public ShiftingPopulation Population { get; }

    /// <summary>Each batch's mean (index k - 1 for step k), in double.</summary>
    public IReadOnlyList<double> BatchMeans { get; }

    /// <summary>Each batch's unbiased variance (index k - 1 for step k), in double.</summary>
    public IReadOnlyList<double> BatchVariances { get; }

    /// <summary>One series per momentum, in the order given.</summary>
    public IReadOnlyList<RunningStatsSeries> Series { get; }

    /// <summary>Runs the layers over <paramref name="population"/>'s batches.</summary>
    public static RunningStatsExperiment Run(ShiftingPopulation population, IReadOnlyList<double?> momenta)
    {
        ArgumentNullException.ThrowIfNull(population);
        ArgumentNullException.ThrowIfNull(momenta);
        BatchNorm1d[] layers = momenta.Select(m => new BatchNorm1d(1, momentum: m)).ToArray();
        var means = layers.Select(l => new List<float> { l.RunningMean![0] }).ToArray();
        var variances = layers.Select(l => new List<float> { l.RunningVar![0] }).ToArray();
        var batchMeans = new List<double>();
        var batchVariances = new List<double>();
        foreach (float[] batch in population.Batches())
        {
            double mean = batch.Average(v => (double)v);
            batchMeans.Add(mean);
            batchVariances.Add(batch.Length > 1 ? batch.Sum(v => (v - mean) * (v - mean)) / (batch.Length - 1) : double.NaN);
            Tensor<float> input = Tensor.Create(batch, [batch.Length, 1]);
            for (int i = 0; i < layers.Length; i++)
            {
                layers[i].Forward(input);
                means[i].Add(layers[i].RunningMean![0]);
                variances[i].Add(layers[i].RunningVar![0]);
            }
        }

        var series = momenta.Select((m, i) => new RunningStatsSeries(m, means[i], variances[i])).ToArray();
        return new RunningStatsExperiment(population, batchMeans, batchVariances, series);
    }

    /// <summary>The data as CSV: <c>step</c>, the population's mean and variance, the batch's mean and unbiased variance
    /// (empty at step 0, the layers before any batch), then <c>running_mean[momentum=M]</c> and
    /// <c>running_var[momentum=M]</c> for each momentum.</summary>
    public CsvTable ToCsv()
    {
        string[] header =
        [
            "step", "population_mean", "population_var", "batch_mean", "batch_var_unbiased",
            .. Series.SelectMany(s => new[] { $"running_mean[momentum={s.MomentumText}]", $"running_var[momentum={s.MomentumText}]" }),
        ];
        var table = new CsvTable(header);
        for (int step = 0; step <= Population.Steps; step++)
        {
            int drawn = Math.Max(step, 1);
            object?[] cells =
            [
                step, Population.Mean(drawn), Population.Variance(drawn),
                step == 0 ? null : BatchMeans[step - 1], step == 0 ? null : BatchVariances[step - 1],
                .. Series.SelectMany(s => new object?[] { s.RunningMean[step], s.RunningVar[step] }),
            ];
            table.Add(cells);
        }

        return table;
    }
}
