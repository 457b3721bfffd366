using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Properties;

/// <summary>Explain renders the decision Forward executes: over random layers, flags, modes and shapes (empty batches
/// included) what the plan says is what the forward then does.</summary>
public class ExplainAgreementProperties
{
    [Fact]
    public void ExplainOnAnEmptyBatch_SaysTheRunningStatisticsBecomeNaN_AsForwardMakesThem()
    {
        var layer = new InstanceNorm1d<double>(3, trackRunningStats: true);
        ForwardPlan plan = layer.Explain([0, 3, 4]);
        layer.Forward(Tensor.CreateFromShape<double>([0, 3, 4]));
        Assert.True(plan.UpdatesRunningStatistics);
        Assert.Contains(plan.Reasons, r => r.Contains("NaN", StringComparison.Ordinal));
        Assert.All(Values(layer.RunningMean!), v => Assert.True(double.IsNaN(v)));
    }

    [Fact]
    public void Explain_AgreesWithForward_OnErrorsUpdatesAndTheCounter()
    {
        int forwards = 0, errors = 0;
        for (int seed = 0; seed < 3000; seed++)
        {
            var rng = new Random(seed);
            bool instance = rng.Next(2) == 0, lazy = rng.Next(4) == 0;
            int rank = instance ? rng.Next(3, 6) : rng.Next(2, 6), channels = rng.Next(1, 4);
            bool affine = rng.Next(2) == 0, track = rng.Next(3) != 0;
            double? momentum = rng.Next(4) == 0 ? null : 0.25 + rng.NextDouble() / 2;
            NormBase<double> layer = Build(instance, lazy, rank, channels, momentum, affine, track);
            layer.Train(rng.Next(3) != 0);
            if (rng.Next(4) == 0) layer.TrackRunningStats = !layer.TrackRunningStats;
            if (rng.Next(8) == 0) layer.Eps = rng.Next(2) == 0 ? 0 : -1;

            var shape = new nint[rng.Next(4) == 0 ? rank - 1 : rank];
            for (int d = 0; d < shape.Length; d++) shape[d] = rng.Next(0, 4);
            if (shape.Length > 1 && rng.Next(3) != 0) shape[1] = channels;
            string what = $"seed {seed}: {layer.ModuleName} [{string.Join(", ", shape)}] training {layer.Training} track {layer.TrackRunningStats}";

            ForwardPlan plan = layer.Explain(shape);
            double[]? meanBefore = layer.RunningMean is null ? null : Values(layer.RunningMean);
            long? counterBefore = layer.NumBatchesTracked;
            Tensor<double> x = Random<double>(seed, 1, 2, shape);
            Exception? thrown = Record.Exception(() => layer.Forward(x));
            if (plan.Error is not null)
            {
                errors++;
                Assert.True(thrown is not null, $"{what}: Explain says it throws ({plan.Error}), Forward did not");
                Assert.Equal(plan.Error, thrown!.Message);
                continue;
            }

            Assert.True(thrown is null, $"{what}: Explain says no error, Forward threw {thrown?.Message}");
            forwards++;
            Assert.Equal(plan.CounterAfter, layer.NumBatchesTracked);
            Assert.Equal(plan.IncrementsCounter, counterBefore != layer.NumBatchesTracked);
            // InstanceNorm with momentum null blends with factor 0: updated, yet unchanged.
            bool observable = meanBefore is not null && !(instance && momentum is null && shape[0] > 0);
            if (observable)
            {
                bool changed = !meanBefore!.SequenceEqual(Values(layer.RunningMean!));
                Assert.True(plan.UpdatesRunningStatistics == changed, $"{what}: Explain says updates = {plan.UpdatesRunningStatistics}, the buffers changed = {changed}");
            }
        }

        Assert.True(forwards > 1000 && errors > 300, $"{forwards} forwards, {errors} errors");
    }

    private static NormBase<double> Build(bool instance, bool lazy, int rank, int channels, double? momentum, bool affine, bool track) =>
        (instance, lazy, rank) switch
        {
            (false, false, 2 or 3) => new BatchNorm1d<double>(channels, 1e-5, momentum, affine, track),
            (false, false, 4) => new BatchNorm2d<double>(channels, 1e-5, momentum, affine, track),
            (false, false, _) => new BatchNorm3d<double>(channels, 1e-5, momentum, affine, track),
            (false, true, 2 or 3) => new LazyBatchNorm1d<double>(1e-5, momentum, affine, track),
            (false, true, 4) => new LazyBatchNorm2d<double>(1e-5, momentum, affine, track),
            (false, true, _) => new LazyBatchNorm3d<double>(1e-5, momentum, affine, track),
            (true, false, 3) => new InstanceNorm1d<double>(channels, 1e-5, momentum, affine, track),
            (true, false, 4) => new InstanceNorm2d<double>(channels, 1e-5, momentum, affine, track),
            (true, false, _) => new InstanceNorm3d<double>(channels, 1e-5, momentum, affine, track),
            (true, true, 3) => new LazyInstanceNorm1d<double>(1e-5, momentum, affine, track),
            (true, true, 4) => new LazyInstanceNorm2d<double>(1e-5, momentum, affine, track),
            _ => new LazyInstanceNorm3d<double>(1e-5, momentum, affine, track),
        };
}
