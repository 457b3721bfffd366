using System.Numerics.Tensors;

namespace NormSharp.Cli.Observation;

/// <summary>
/// InstanceNorm's summary table (docs/behavior.md section 6), rebuilt by experiment like <see cref="SummaryTable"/>:
/// for each combination of mode and tracking flags, a real layer whose buffers hold values unlike the batch's, a real
/// batch, and what the output, the buffers and the counter show.
/// </summary>
public sealed class InstanceNormSummaryTable : ISummaryTable
{
    private const int Channels = 3, Batch = 4, Seed = 20261128;
    private const double Eps = 1e-5;
    private static readonly double[] DistinctMean = [5.0, -3.0, 2.0];
    private static readonly double[] DistinctVar = [4.0, 9.0, 0.25];
    private readonly ModuleKind kind;

    /// <summary>A table for one InstanceNorm kind.</summary>
    public InstanceNormSummaryTable(ModuleKind kind) => this.kind = kind;

    /// <inheritdoc/>
    public string SingleValueHeader => "1 spatial value error";

    /// <inheritdoc/>
    public IReadOnlyList<SummaryRow> Rows()
    {
        return SummaryTables.Combinations().Select(c => Observe(c.Training, c.TrackAtConstruction, c.TrackNow)).ToList();
    }

    /// <inheritdoc/>
    public IReadOnlyList<AttributeObservation> AttributeRows()
    {
        Tensor<double> x = ObservedBatch.Create(kind.Shape(Batch, Channels), Seed);
        var (mean, varB, varU) = ObservedBatch.PlaneStatistics(x);
        var rows = new List<AttributeObservation>();

        NormBase<double> scaled = kind.Create(Channels, Eps, 0.1, true, false);
        scaled.Weight!.Data.Fill(2.0);
        scaled.Bias!.Data.Fill(1.0);
        bool appliesAffine = ObservedBatch.MatchesPlaneNormalization(x, scaled.Forward(x), mean, varB, Eps, 2.0, 1.0);
        rows.Add(new("affine", "true (weight 2, bias 1)", appliesAffine ? "* weight + bias, per channel" : "unexpected output"));
        bool noAffine = ObservedBatch.MatchesPlaneNormalization(x, kind.Create(Channels, Eps, 0.1, false, false).Forward(x), mean, varB, Eps);
        rows.Add(new("affine", "false (the default)", noAffine ? "neither (no weight, no bias)" : "unexpected output"));
        rows.Add(new("affine", "true, then set to false", AffineChangeObserved(x, builtAffine: true)));
        rows.Add(new("affine", "false, then set to true", AffineChangeObserved(x, builtAffine: false)));

        NormBase<double> ema = kind.Create(Channels, Eps, 0.3, false, true);
        ema.Forward(x);
        double[] expectedMean = Enumerable.Range(0, Channels).Select(c => Enumerable.Range(0, Batch).Average(n => 0.3 * mean[n * Channels + c])).ToArray();
        double[] expectedVar = Enumerable.Range(0, Channels).Select(c => Enumerable.Range(0, Batch).Average(n => 0.7 + 0.3 * varU[n * Channels + c])).ToArray();
        bool isAverage = ObservedBatch.Close(ObservedBatch.Values(ema.RunningMean!), expectedMean) && ObservedBatch.Close(ObservedBatch.Values(ema.RunningVar!), expectedVar);
        rows.Add(new("momentum", "a number (0.3), tracking", isAverage
            ? "running = average over the samples of (0.7 * running + 0.3 * sample's stat); var_u; counter stays 0"
            : "unexpected running statistics"));

        NormBase<double> none = kind.Create(Channels, Eps, null, false, true);
        none.Forward(x);
        bool unchanged = ObservedBatch.Values(none.RunningMean!).All(v => v == 0) && ObservedBatch.Values(none.RunningVar!).All(v => v == 1);
        rows.Add(new("momentum", "null, tracking", unchanged ? "factor 0: running statistics keep their values (no cumulative average)" : "running statistics changed"));
        return rows;
    }

    private string AffineChangeObserved(Tensor<double> x, bool builtAffine)
    {
        NormBase<double> reference = kind.Create(Channels, Eps, 0.1, builtAffine, false);
        NormBase<double> changed = kind.Create(Channels, Eps, 0.1, builtAffine, false);
        if (builtAffine)
        {
            foreach (NormBase<double> layer in new[] { reference, changed })
            {
                layer.Weight!.Data.Fill(2.0);
                layer.Bias!.Data.Fill(1.0);
            }
        }

        changed.Affine = !builtAffine;
        bool same = ObservedBatch.Close(ObservedBatch.Values(reference.Forward(x)), ObservedBatch.Values(changed.Forward(x)));

        // The flag is read by the channel check: an input with C + 1 channels.
        bool warned = false;
        void OnWarning(object? sender, NormWarningEventArgs e) => warned |= ReferenceEquals(sender, changed);
        string mismatch;
        NormWarnings.Raised += OnWarning;
        try
        {
            changed.Forward(ObservedBatch.Create(kind.Shape(Batch, Channels + 1), Seed));
            mismatch = "accepted";
        }
        catch (ArgumentException e)
        {
            mismatch = $"fails ({e.Message})";
        }
        finally
        {
            NormWarnings.Raised -= OnWarning;
        }

        return (same ? "no effect on the output" : "output changed") +
               $"; a C + 1 channel input now {(warned ? "warns, then " : "")}{mismatch}";
    }

    private SummaryRow Observe(bool training, bool trackAtConstruction, bool trackNow)
    {
        Tensor<double> x = ObservedBatch.Create(kind.Shape(Batch, Channels), Seed);
        var (mean, varB, varU) = ObservedBatch.PlaneStatistics(x);

        NormBase<double> layer = Configure(0.1, training, trackAtConstruction, trackNow);
        double[]? meanBefore = layer.RunningMean is null ? null : ObservedBatch.Values(layer.RunningMean);
        double[]? varBefore = layer.RunningVar is null ? null : ObservedBatch.Values(layer.RunningVar);
        long? counterBefore = layer.NumBatchesTracked;
        string normalizedWith;
        string? error = null;
        try
        {
            Tensor<double> y = layer.Forward(x);
            var (batchMean, batchVar, _) = ObservedBatch.ChannelStatistics(x);
            normalizedWith =
                ObservedBatch.MatchesPlaneNormalization(x, y, mean, varB, Eps) ? "instance"
                : ObservedBatch.MatchesNormalization(x, y, DistinctMean, DistinctVar, Eps) ? "running"
                : ObservedBatch.MatchesNormalization(x, y, batchMean, batchVar, Eps) ? "batch"
                : "unrecognized";
        }
        catch (ArgumentException e)
        {
            normalizedWith = "error";
            error = e.Message;
        }

        bool? updated = meanBefore is null
            ? null
            : !ObservedBatch.Close(meanBefore, ObservedBatch.Values(layer.RunningMean!)) || !ObservedBatch.Close(varBefore!, ObservedBatch.Values(layer.RunningVar!));
        bool? counted = counterBefore is null ? null : layer.NumBatchesTracked != counterBefore;
        string? matches = null;
        if (updated == true)
        {
            double[] expectedMean = Enumerable.Range(0, Channels).Select(c => Enumerable.Range(0, Batch).Average(n => 0.9 * meanBefore![c] + 0.1 * mean[n * Channels + c])).ToArray();
            double[] expectedVar = Enumerable.Range(0, Channels).Select(c => Enumerable.Range(0, Batch).Average(n => 0.9 * varBefore![c] + 0.1 * varU[n * Channels + c])).ToArray();
            matches = ObservedBatch.Close(ObservedBatch.Values(layer.RunningMean!), expectedMean) && ObservedBatch.Close(ObservedBatch.Values(layer.RunningVar!), expectedVar)
                ? "average of per-sample EMA; var_u"
                : "unrecognized update";
        }

        bool singleValueError;
        try
        {
            Configure(0.1, training, trackAtConstruction, trackNow).Forward(ObservedBatch.Create(kind.Shape(Batch, Channels, spatialOne: true), Seed));
            singleValueError = false;
        }
        catch (ArgumentException e)
        {
            singleValueError = e.Message.StartsWith("Expected more than 1 spatial element", StringComparison.Ordinal);
        }

        return new SummaryRow(training ? "train" : "eval", trackAtConstruction, trackNow, normalizedWith, updated, counted, singleValueError, matches, error);
    }

    // A non-affine layer whose buffers (if any) hold values unlike the batch's.
    private NormBase<double> Configure(double? momentum, bool training, bool trackAtConstruction, bool trackNow)
    {
        NormBase<double> layer = kind.Create(Channels, Eps, momentum, false, trackAtConstruction);
        if (layer.RunningMean is not null)
        {
            for (int c = 0; c < Channels; c++)
            {
                layer.RunningMean[c] = DistinctMean[c];
                layer.RunningVar![c] = DistinctVar[c];
            }
        }

        layer.TrackRunningStats = trackNow;
        layer.Train(training);
        return layer;
    }
}
