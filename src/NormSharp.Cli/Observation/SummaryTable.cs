using System.Numerics.Tensors;

namespace NormSharp.Cli.Observation;

/// <summary>
/// Rebuilds the seed's summary table (docs/behavior.md section 3) by experiment: for each row it
/// builds a real layer, forwards a real batch, and reads the output, the buffers and the counter.
/// No cell is stored; a change in the library's behaviour changes the table.
/// </summary>
public sealed class SummaryTable : ISummaryTable
{
    private const int Channels = 3, Batch = 8, Seed = 20261128;
    private static readonly double[] DistinctMean = [5.0, -3.0, 2.0];
    private static readonly double[] DistinctVar = [4.0, 9.0, 0.25];
    private readonly ModuleKind kind;

    /// <summary>A table for one module kind.</summary>
    public SummaryTable(ModuleKind kind) => this.kind = kind;

    /// <inheritdoc/>
    public string SingleValueHeader => "n == 1 error";

    /// <summary>The eight rows, in the spec's order: train then eval; tracking at construction true then false.</summary>
    public IReadOnlyList<SummaryRow> Rows()
    {
        return SummaryTables.Combinations().Select(c => Observe(c.Training, c.TrackAtConstruction, c.TrackNow)).ToList();
    }

    /// <summary>The affine and momentum rows, each observed on a real forward.</summary>
    public IReadOnlyList<AttributeObservation> AttributeRows()
    {
        Tensor<double> x = ObservedBatch.Create(kind.Shape(Batch, Channels), Seed);
        var (mean, varB, _) = ObservedBatch.ChannelStatistics(x);
        double eps = 1e-5;

        var rows = new List<AttributeObservation>();

        NormBase<double> scaled = kind.Create(Channels, eps, 0.1, true, true);
        scaled.Weight!.Data.Fill(2.0);
        scaled.Bias!.Data.Fill(1.0);
        bool appliesAffine = ObservedBatch.MatchesNormalization(x, scaled.Forward(x), mean, varB, eps, 2.0, 1.0);
        rows.Add(new("affine", "true at construction (weight 2, bias 1)", appliesAffine ? "* weight + bias" : "unexpected output"));

        NormBase<double> plain = kind.Create(Channels, eps, 0.1, false, true);
        bool noAffine = ObservedBatch.MatchesNormalization(x, plain.Forward(x), mean, varB, eps);
        rows.Add(new("affine", "false at construction", noAffine ? "neither (no weight, no bias)" : "unexpected output"));

        rows.Add(new("affine", "true, then set to false", AffineChangeObserved(x, builtAffine: true)));
        rows.Add(new("affine", "false, then set to true", AffineChangeObserved(x, builtAffine: false)));

        NormBase<double> ema = kind.Create(Channels, eps, 0.3, false, true);
        ema.Forward(x);
        bool isEma = ObservedBatch.Close(Values(ema.RunningMean!), mean.Select(m => 0.3 * m).ToArray());
        rows.Add(new("momentum", "a number (0.3)", isEma ? "EMA: running = 0.7 * running + 0.3 * batch" : "unexpected running_mean"));

        NormBase<double> cma = kind.Create(Channels, eps, null, false, true);
        var batchMeans = new List<double[]>();
        for (int k = 0; k < 3; k++)
        {
            Tensor<double> xk = ObservedBatch.Create(kind.Shape(Batch, Channels), Seed + 1 + k, mean: k);
            batchMeans.Add(ObservedBatch.ChannelStatistics(xk).Mean);
            cma.Forward(xk);
        }

        double[] plainAverage = Enumerable.Range(0, Channels).Select(c => batchMeans.Average(m => m[c])).ToArray();
        bool isCma = ObservedBatch.Close(Values(cma.RunningMean!), plainAverage) && cma.NumBatchesTracked == 3;
        rows.Add(new("momentum", "null, 3 batches", isCma ? "CMA: running_mean = plain average of the 3 batch means (factor 1/num_batches_tracked)" : "unexpected running_mean"));
        return rows;
    }

    private string AffineChangeObserved(Tensor<double> x, bool builtAffine)
    {
        NormBase<double> reference = kind.Create(Channels, 1e-5, 0.1, builtAffine, true);
        NormBase<double> changed = kind.Create(Channels, 1e-5, 0.1, builtAffine, true);
        if (builtAffine)
        {
            foreach (NormBase<double> layer in new[] { reference, changed })
            {
                layer.Weight!.Data.Fill(2.0);
                layer.Bias!.Data.Fill(1.0);
            }
        }

        changed.Affine = !builtAffine;
        bool same = ObservedBatch.Close(Values(reference.Forward(x)), Values(changed.Forward(x)));
        return same ? "no effect (output identical to the unchanged layer)" : "output changed";
    }

    private SummaryRow Observe(bool training, bool trackAtConstruction, bool trackNow)
    {
        Tensor<double> x = ObservedBatch.Create(kind.Shape(Batch, Channels), Seed);
        var (mean, varB, varU) = ObservedBatch.ChannelStatistics(x);
        const double eps = 1e-5;

        NormBase<double> layer = Configure(0.1, training, trackAtConstruction, trackNow);
        double[]? meanBefore = layer.RunningMean is null ? null : Values(layer.RunningMean);
        double[]? varBefore = layer.RunningVar is null ? null : Values(layer.RunningVar);
        long? counterBefore = layer.NumBatchesTracked;
        Tensor<double> y = layer.Forward(x);

        string normalizedWith =
            ObservedBatch.MatchesNormalization(x, y, mean, varB, eps) ? "batch"
            : ObservedBatch.MatchesNormalization(x, y, DistinctMean, DistinctVar, eps) ? "running"
            : ObservedBatch.MatchesNormalization(x, y, mean, varU, eps) ? "batch (unbiased)"
            : "unrecognized";

        bool? updated = meanBefore is null
            ? null
            : !ObservedBatch.Close(meanBefore, Values(layer.RunningMean!)) || !ObservedBatch.Close(varBefore!, Values(layer.RunningVar!));
        bool? counted = counterBefore is null ? null : layer.NumBatchesTracked != counterBefore;

        string? matches = null;
        if (updated == true)
        {
            bool ema = ObservedBatch.Close(Values(layer.RunningVar!), varBefore!.Select((v, c) => 0.9 * v + 0.1 * varU[c]).ToArray())
                       && ObservedBatch.Close(Values(layer.RunningMean!), meanBefore!.Select((v, c) => 0.9 * v + 0.1 * mean[c]).ToArray());
            NormBase<double> cumulative = Configure(null, training, trackAtConstruction, trackNow);
            cumulative.Forward(x);
            bool cma = ObservedBatch.Close(Values(cumulative.RunningVar!), varU) && ObservedBatch.Close(Values(cumulative.RunningMean!), mean);
            matches = (ema, cma) switch
            {
                (true, true) => "var_u; EMA or CMA",
                (true, false) => "var_u; EMA",
                (false, true) => "var_u; CMA",
                _ => "unrecognized update",
            };
        }

        NormBase<double> fresh = Configure(0.1, training, trackAtConstruction, trackNow);
        bool singleValueError;
        try
        {
            fresh.Forward(ObservedBatch.Create(kind.Shape(1, Channels, spatialOne: true), Seed));
            singleValueError = false;
        }
        catch (ArgumentException e) when (e.Message.StartsWith("Expected more than 1 value per channel", StringComparison.Ordinal))
        {
            singleValueError = true;
        }

        return new SummaryRow(training ? "train" : "eval", trackAtConstruction, trackNow, normalizedWith, updated, counted,
                              singleValueError, matches);
    }

    // A non-affine layer whose buffers (if any) hold values unlike the batch's, so that running and
    // batch normalization give visibly different outputs.
    private NormBase<double> Configure(double? momentum, bool training, bool trackAtConstruction, bool trackNow)
    {
        NormBase<double> layer = kind.Create(Channels, 1e-5, momentum, false, trackAtConstruction);
        if (layer.RunningMean is not null)
        {
            DistinctMean.AsSpan().CopyTo(Span(layer.RunningMean));
            DistinctVar.AsSpan().CopyTo(Span(layer.RunningVar!));
        }

        layer.TrackRunningStats = trackNow;
        layer.Train(training);
        return layer;
    }

    private static double[] Values(Tensor<double> tensor) => ObservedBatch.Values(tensor);

    private static Span<double> Span(Tensor<double> tensor) => tensor.GetSpan([0], (int)tensor.FlattenedLength);
}
