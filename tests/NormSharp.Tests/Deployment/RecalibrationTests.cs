using System.Text.Json;
using NormSharp.Tests.Support;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Deployment;

/// <summary>Recalibration: population statistics over any batches, update_bn's per-batch weighting, counters, the report,
/// InstanceNorm's per-sample population, and a session that restores everything when cancelled.</summary>
public class RecalibrationTests
{
    /// <summary>Batches of (N, C, *spatial) in double, the given sizes, normal values around <paramref name="mean"/>.</summary>
    private static List<Tensor<double>> Batches(int seed, int[] sizes, int channels, nint[] spatial, double mean = 0, double std = 1) =>
        sizes.Select((n, i) => Random<double>(seed + i, mean, std, [n, channels, .. spatial])).ToList();

    private static Tensor<double> Concatenate(List<Tensor<double>> batches)
    {
        var values = batches.SelectMany(b => Values(b)).ToArray();
        nint total = (nint)batches.Sum(b => (long)b.Lengths[0]);
        return Tensor.Create(values, [total, .. batches[0].Lengths[1..]]);
    }

    /// <summary>One training forward over everything, momentum 1: the running statistics become the batch's mean and
    /// unbiased variance.</summary>
    private static (double[] Mean, double[] Var) OneForward(NormBase<double> twin, Tensor<double> all)
    {
        twin.Momentum = 1.0;
        twin.Train().Forward(all);
        return (Values(twin.RunningMean!), Values(twin.RunningVar!));
    }

    private static void AssertRelative(double[] expected, double[] actual, double tolerance) =>
        AllClose(expected, actual, atol: 0, rtol: tolerance);

    public static TheoryData<string, int[]> Shapes() => new()
    {
        { "BatchNorm1d (N, C)", [] },
        { "BatchNorm1d (N, C, L)", [5] },
        { "BatchNorm2d", [3, 4] },
        { "BatchNorm3d", [2, 3, 2] },
    };

    private static NormBase<double> BatchNormFor(int rank, int channels) => rank switch
    {
        2 or 3 => new BatchNorm1d<double>(channels),
        4 => new BatchNorm2d<double>(channels),
        _ => new BatchNorm3d<double>(channels),
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void PerSample_EqualsOneForwardOnTheConcatenationOfAllBatches(string name, int[] spatial)
    {
        nint[] s = spatial.Select(l => (nint)l).ToArray();
        var batches = Batches(11, [6, 2, 9, 3], 4, s, mean: 2.5, std: 3);
        NormBase<double> bn = BatchNormFor(2 + spatial.Length, 4), twin = BatchNormFor(2 + spatial.Length, 4);

        using (RecalibrationSession session = Recalibration.Begin(bn))
        {
            foreach (Tensor<double> batch in batches) bn.Forward(batch);
            session.Complete();
        }

        var (mean, variance) = OneForward(twin, Concatenate(batches));
        AssertRelative(mean, Values(bn.RunningMean!), 1e-12);
        AssertRelative(variance, Values(bn.RunningVar!), 1e-12);
        Assert.Equal(4L, bn.NumBatchesTracked);
        Assert.True(name.Length > 0);
    }

    [Fact]
    public void PerSample_UnevenBatches_WeighEveryValueAlike_WhereUpdateBnOverweightsTheSmallLastBatch()
    {
        // 8 batches of 32 and a last batch of 2 from a shifted distribution.
        var batches = Batches(3, [32, 32, 32, 32, 32, 32, 32, 32], 3, []);
        batches.Add(Random<double>(99, 5.0, 1, [2, 3]));
        var perSample = new BatchNorm1d<double>(3);
        var perBatch = new BatchNorm1d<double>(3);
        foreach (var (layer, weighting) in new[] { (perSample, RecalibrationWeighting.PerSample), (perBatch, RecalibrationWeighting.PerBatch) })
        {
            using RecalibrationSession session = Recalibration.Begin(layer, weighting);
            foreach (Tensor<double> batch in batches) layer.Forward(batch);
            session.Complete();
        }

        var (mean, variance) = OneForward(new BatchNorm1d<double>(3), Concatenate(batches));
        AssertRelative(mean, Values(perSample.RunningMean!), 1e-12);
        AssertRelative(variance, Values(perSample.RunningVar!), 1e-12);
        // Per batch, the 2 samples weigh 1/9 of the mean instead of 2/258.
        double[] perBatchMean = Values(perBatch.RunningMean!);
        for (int c = 0; c < 3; c++) Assert.True(perBatchMean[c] - mean[c] > 0.4, $"channel {c}: {perBatchMean[c]} vs {mean[c]}");
    }

    [Fact]
    public void EmptyBatches_CountAsBatchesButAddNoValues()
    {
        var batches = Batches(5, [4, 0, 7, 0, 3], 2, [3, 3]);
        var bn = new BatchNorm2d<double>(2);
        using (RecalibrationSession session = Recalibration.Begin(bn))
        {
            foreach (Tensor<double> batch in batches) bn.Forward(batch);
            RecalibrationReport report = session.Complete();
            Assert.Equal(5L, report.Layers[0].Batches);
            Assert.All(report.Layers[0].Channels, c => Assert.Equal(14L * 9, c.Count));
        }

        var (mean, variance) = OneForward(new BatchNorm2d<double>(2), Concatenate(batches.Where(b => b.Lengths[0] > 0).ToList()));
        AssertRelative(mean, Values(bn.RunningMean!), 1e-12);
        AssertRelative(variance, Values(bn.RunningVar!), 1e-12);
        Assert.Equal(5L, bn.NumBatchesTracked);
    }

    [Fact]
    public void OnlyEmptyBatches_LeaveStatisticsAndCounterUnchanged_AndTheReportSaysNoData()
    {
        var bn = new BatchNorm1d<double>(2);
        bn.RunningMean!.Fill(3.0);
        bn.NumBatchesTracked = 17;
        RecalibrationReport report;
        using (RecalibrationSession session = Recalibration.Begin(bn))
        {
            bn.Forward(Tensor.Create(Array.Empty<double>(), [0, 2]));
            report = session.Complete();
        }

        Assert.Equal([3.0, 3.0], Values(bn.RunningMean));
        Assert.Equal([1.0, 1.0], Values(bn.RunningVar!));
        Assert.Equal(17L, bn.NumBatchesTracked);
        RecalibratedLayer layer = Assert.Single(report.Layers);
        Assert.False(layer.Updated);
        Assert.Equal(2, layer.ChannelsWithoutData);
        Assert.Equal(17L, layer.CounterAfter);
        Assert.All(layer.Channels, c => Assert.Equal(0.0, c.MeanShift));
        Assert.Contains("no data: unchanged", report.ToTable(), StringComparison.Ordinal);
    }

    [Fact]
    public void MeanFarFromZero_KeepsTheVarianceToTheLastDigits()
    {
        // Mean 1e4, std 1: Σx² - (Σx)²/n would lose about 8 of the 16 digits; merging shifted moments loses none.
        var batches = Batches(21, [64, 17, 64, 5, 64], 3, [4], mean: 1e4, std: 1);
        var bn = new BatchNorm1d<double>(3);
        using (RecalibrationSession session = Recalibration.Begin(bn))
        {
            foreach (Tensor<double> batch in batches) bn.Forward(batch);
            session.Complete();
        }

        // Reference: two passes over all values. x - mean is exact for values this close to the mean (Sterbenz), and an error
        // e in the mean adds only n·e² to Σ(x - mean)², so this is exact to about 1e-15 even with a naively summed mean.
        double[] all = Values(Concatenate(batches));
        for (int c = 0; c < 3; c++)
        {
            double[] values = Enumerable.Range(0, all.Length).Where(i => i / 4 % 3 == c).Select(i => all[i]).ToArray();
            double mean = values.Average();
            double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1);
            Assert.True(Math.Abs(bn.RunningMean![c] - mean) <= 1e-12 * mean, $"channel {c}: {bn.RunningMean[c]:R} vs {mean:R}");
            Assert.True(Math.Abs(bn.RunningVar![c] - variance) <= 1e-12 * variance, $"channel {c}: {bn.RunningVar[c]:R} vs {variance:R}");
        }
    }

    [Fact]
    public void PerBatch_IsExactlyTheLayerWithMomentumNoneAfterAReset_WhatUpdateBnRuns()
    {
        foreach (bool isFloat in new[] { false, true })
        {
            var batches = Batches(31, [5, 0, 3, 2, 7], 3, [2, 2], mean: 1, std: 2);
            if (isFloat) Check<float>(batches.Select(b => Tensor.Create(Values(b).Select(v => (float)v).ToArray(), b.Lengths)).ToList());
            else Check(batches);
        }

        static void Check<T>(List<Tensor<T>> batches) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            var bn = new BatchNorm2d<T>(3, momentum: 0.3);
            var twin = new BatchNorm2d<T>(3, momentum: 0.3);
            foreach (var layer in new[] { bn, twin })
            {
                layer.RunningMean!.Fill(T.CreateTruncating(5.0));
                layer.NumBatchesTracked = 42;
            }

            using (RecalibrationSession session = Recalibration.Begin(bn, RecalibrationWeighting.PerBatch))
            {
                foreach (Tensor<T> batch in batches) bn.Forward(batch);
                session.Complete();
            }

            // update_bn: reset, momentum None, counter 0, train, forward every batch.
            twin.ResetRunningStats();
            twin.Momentum = null;
            foreach (Tensor<T> batch in batches) twin.Forward(batch);

            Assert.Equal(Values(twin.RunningMean!), Values(bn.RunningMean!));
            Assert.Equal(Values(twin.RunningVar!), Values(bn.RunningVar!));
            Assert.Equal(5L, bn.NumBatchesTracked);
            Assert.Equal(0.3, bn.Momentum);
        }
    }

    [Theory]
    [InlineData("BatchNorm1d", false)]
    [InlineData("BatchNorm1d", true)]
    [InlineData("BatchNorm2d", false)]
    [InlineData("BatchNorm2d", true)]
    public void PerBatch_MatchesPyTorchUpdateBn(string module, bool isFloat)
    {
        // Fixtures/update_bn_expected.json: torch.optim.swa_utils.update_bn (PyTorch 1.13) over the same batches, in float64
        // and float32 (the data rounded to float: channel 2's values near 1e4 lose their last digits, which changes its variance).
        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(RepositoryPaths.Of("tests", "NormSharp.Tests", "Deployment", "Fixtures", "update_bn_expected.json")));
        JsonElement root = expected.RootElement;
        int[] sizes = root.GetProperty("sizes").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        JsonElement torch = root.GetProperty($"{module}-{(isFloat ? "float32" : "float64")}");
        double[] mean = torch.GetProperty("running_mean").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] variance = torch.GetProperty("running_var").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        bool spatial = module == "BatchNorm2d";

        if (isFloat) Check<float>(1e-6);
        else Check<double>(1e-12);

        void Check<T>(double tolerance) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            NormBase<T> bn = spatial ? new BatchNorm2d<T>(3) : new BatchNorm1d<T>(3);
            bn.RunningMean!.Fill(T.CreateTruncating(5.0));
            bn.NumBatchesTracked = 42;
            bn.Eval();
            using (RecalibrationSession session = Recalibration.Begin(bn, RecalibrationWeighting.PerBatch))
            {
                int k = 0;
                foreach (int size in sizes)
                {
                    bn.Forward(UpdateBnBatch<T>(k, size, spatial));
                    k += size;
                }

                session.Complete();
            }

            AllClose(mean, Values(bn.RunningMean), atol: 0, rtol: tolerance);
            AllClose(variance, Values(bn.RunningVar!), atol: 0, rtol: tolerance);
            Assert.Equal(torch.GetProperty("num_batches_tracked").GetInt64(), bn.NumBatchesTracked);
            Assert.False(bn.Training);
        }
    }

    /// <summary>generate_update_bn.py's batch: x[n, c(, s)] = sin(0.37·k + 1.3·c + 0.11·s)·(c + 1) + 10·c (+ 1e4 for c = 2).</summary>
    private static Tensor<T> UpdateBnBatch<T>(int first, int size, bool spatial) where T : System.Numerics.IFloatingPointIeee754<T>
    {
        int positions = spatial ? 4 : 1;
        var values = new T[size * 3 * positions];
        for (int n = 0; n < size; n++)
            for (int c = 0; c < 3; c++)
                for (int s = 0; s < positions; s++)
                    values[(n * 3 + c) * positions + s] = T.CreateTruncating(
                        Math.Sin(0.37 * (first + n) + 1.3 * c + 0.11 * s) * (c + 1) + 10.0 * c + (c == 2 ? 1e4 : 0));
        return spatial ? Tensor.Create(values, [size, 3, 2, 2]) : Tensor.Create(values, [size, 3]);
    }

    [Fact]
    public void Collection_CountersBecomeBatchesSeen_PerLayer_AndModesAndFlagsComeBack()
    {
        var first = new BatchNorm1d(4);
        var second = new BatchNorm2d<double>(2, momentum: null);
        var unused = new BatchNorm1d(3);
        var noStatistics = new BatchNorm1d(3, trackRunningStats: false);
        first.NumBatchesTracked = second.NumBatchesTracked = unused.NumBatchesTracked = 1000;
        first.Eval();
        second.TrackRunningStats = false;
        var model = new NormModuleCollection("Net") { ["a"] = first, ["b"] = second, ["unused"] = unused, ["plain"] = noStatistics };

        RecalibrationReport report;
        using (RecalibrationSession session = Recalibration.Begin(model))
        {
            Assert.Equal(["a", "b", "unused"], session.Layers);
            Assert.True(first.Training);
            Assert.False(first.TrackRunningStats);
            for (int i = 0; i < 3; i++) first.Forward(Random(i, 8, 4));
            second.Forward(Random<double>(7, 0, 1, [2, 2, 3, 3]));
            Assert.Equal(1000L, first.NumBatchesTracked);      // nothing blends or counts during the session
            Assert.Equal([0.0, 0.0, 0.0, 0.0], Values(first.RunningMean!));
            report = session.Complete();
        }

        Assert.Equal(3L, first.NumBatchesTracked);
        Assert.Equal(1L, second.NumBatchesTracked);
        Assert.Equal(1000L, unused.NumBatchesTracked);
        Assert.False(first.Training);
        Assert.True(first.TrackRunningStats);
        Assert.True(second.Training);
        Assert.False(second.TrackRunningStats);
        Assert.Null(second.Momentum);
        Assert.Equal(["a", "b", "unused", "plain"], report.Layers.Select(l => l.Name));
        Assert.Equal([true, true, false, false], report.Layers.Select(l => l.Updated));
        Assert.Contains("no running statistics", report.Layers[3].Skipped, StringComparison.Ordinal);
        Assert.Equal((1000L, 3L), (report.Layers[0].CounterBefore!.Value, report.Layers[0].CounterAfter!.Value));
        Assert.Equal(4 + 2 + 3, report.Channels.Count);
    }

    [Fact]
    public void Report_OldAndNewStatistics_ShiftInOldStandardDeviations_LargestFirst()
    {
        var bn = new BatchNorm1d<double>(3);
        new double[] { 0.0, 1.0, -2.0 }.CopyTo(bn.RunningMean!.GetSpan([0], 3));
        new double[] { 4.0, 1.0, 0.25 }.CopyTo(bn.RunningVar!.GetSpan([0], 3));
        // Channel c takes the values {m_c - 1, m_c + 1}: mean m_c, unbiased variance 2.
        double[] newMeans = [1.0, 1.5, -4.0];
        var x = Tensor.Create(new[] { newMeans[0] - 1, newMeans[1] - 1, newMeans[2] - 1, newMeans[0] + 1, newMeans[1] + 1, newMeans[2] + 1 }, [2, 3]);
        RecalibrationReport report;
        using (RecalibrationSession session = Recalibration.Begin(bn))
        {
            bn.Forward(x);
            report = session.Complete();
        }

        RecalibratedChannel[] channels = [.. report.Layers[0].Channels];
        Assert.Equal([0.0, 1.0, -2.0], channels.Select(c => c.OldMean));
        Assert.Equal([4.0, 1.0, 0.25], channels.Select(c => c.OldVar));
        Assert.Equal(newMeans, channels.Select(c => c.NewMean));
        Assert.Equal([2.0, 2.0, 2.0], channels.Select(c => c.NewVar));
        Assert.Equal([0.5, 0.5, -4.0], channels.Select(c => c.MeanShift));
        Assert.Equal([0.5, 2.0, 8.0], channels.Select(c => c.VarianceRatio));
        Assert.Equal([2L, 2L, 2L], channels.Select(c => c.Count));
        Assert.Equal(2, report.Channels[0].Channel);                       // |-4| first
        Assert.Equal("""
            Recalibrated (per sample): 1 of 1 layer(s) updated, 3 channel(s)

            | layer | module      | batches | counter | n per channel | result  | largest |shift| |
            | ----- | ----------- | ------- | ------- | ------------- | ------- | --------------- |
            | -     | BatchNorm1d | 1       | 0 -> 1  | 2             | updated | 4               |

            Largest mean shifts, in old standard deviations (shift = (new mean - old mean) / sqrt(old var)):

            | layer | channel | old mean | new mean | shift | old var | new var | var ratio |
            | ----- | ------- | -------- | -------- | ----- | ------- | ------- | --------- |
            | -     | 2       | -2       | -4       | -4    | 0.25    | 2       | 8         |
            | -     | 0       | 0        | 1        | 0.5   | 4       | 2       | 0.5       |
            ... and 1 more channel(s)

            """, report.ToTable(largest: 2));
    }

    [Fact]
    public void InstanceNorm_PopulationIsTheAverageOverSamplesOfEachPlanesMeanAndUnbiasedVariance()
    {
        var batches = Batches(41, [3, 1, 4], 2, [5, 2], mean: 3, std: 2);
        foreach (RecalibrationWeighting weighting in Enum.GetValues<RecalibrationWeighting>())
        {
            var norm = new InstanceNorm2d<double>(2, momentum: 0.2, trackRunningStats: true);
            using (RecalibrationSession session = Recalibration.Begin(norm, weighting))
            {
                foreach (Tensor<double> batch in batches) norm.Forward(batch);
                RecalibrationReport report = session.Complete();
                Assert.All(report.Layers[0].Channels, c => Assert.Equal(8L, c.Count));    // samples
            }

            // Each plane's mean and unbiased variance, by hand.
            var planeStats = batches.Select(b =>
            {
                double[] v = Values(b);
                int n = (int)b.Lengths[0];
                return Enumerable.Range(0, n * 2).Select(p =>
                {
                    double[] plane = v.Skip(p * 10).Take(10).ToArray();
                    double m = plane.Average();
                    return (Channel: p % 2, Mean: m, Var: plane.Sum(x => (x - m) * (x - m)) / 9);
                }).ToList();
            }).ToList();
            for (int c = 0; c < 2; c++)
            {
                double expectedMean, expectedVar;
                if (weighting == RecalibrationWeighting.PerSample)
                {
                    var planes = planeStats.SelectMany(b => b).Where(p => p.Channel == c).ToList();
                    (expectedMean, expectedVar) = (planes.Average(p => p.Mean), planes.Average(p => p.Var));
                }
                else
                {
                    var perBatch = planeStats.Select(b => b.Where(p => p.Channel == c).ToList()).ToList();
                    (expectedMean, expectedVar) = (perBatch.Average(b => b.Average(p => p.Mean)), perBatch.Average(b => b.Average(p => p.Var)));
                }

                Assert.Equal(expectedMean, norm.RunningMean![c], 1e-12);
                Assert.Equal(expectedVar, norm.RunningVar![c], 1e-12);
            }

            Assert.Equal(3L, norm.NumBatchesTracked);
            Assert.Equal(0.2, norm.Momentum);
        }
    }

    [Fact]
    public void Dispose_WithoutComplete_RestoresStatisticsCounterModeAndFlags_EvenInstanceNormsBlendedBuffers()
    {
        var bn = new BatchNorm1d(3);
        var inorm = new InstanceNorm1d(3, trackRunningStats: true);
        bn.RunningMean!.Fill(0.5f);
        bn.NumBatchesTracked = 9;
        bn.Eval();
        inorm.Eval();
        inorm.TrackRunningStats = false;
        var model = new NormModuleCollection { ["bn"] = bn, ["in"] = inorm };
        StateDict before = model.StateDict();

        using (Recalibration.Begin(model))
        {
            bn.Forward(Random(1, 4, 3));
            inorm.Forward(Random(2, 4, 3, 6));      // InstanceNorm blends its buffers whenever it uses input statistics
            Assert.NotEqual(Values(before["in.running_mean"].ToTensor<float>()), Values(inorm.RunningMean!));
        }

        StateDict after = model.StateDict();
        Assert.Equal(before.Keys, after.Keys);
        foreach (string key in before.Keys) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());
        Assert.False(bn.Training);
        Assert.True(bn.TrackRunningStats);
        Assert.False(inorm.Training);
        Assert.False(inorm.TrackRunningStats);
        Assert.Null(bn.StatisticsRecorder);
        Assert.Null(inorm.StatisticsRecorder);
    }

    [Fact]
    public void ForwardThatThrows_RecordsNothing()
    {
        var bn = new BatchNorm1d<double>(2);
        var batch = Random<double>(4, 1, 1, [6, 2]);
        using RecalibrationSession session = Recalibration.Begin(bn);
        Assert.Throws<ArgumentException>(() => bn.Forward(Random<double>(5, 1, 1, [1, 2])));   // one value per channel
        Assert.Throws<ArgumentException>(() => bn.Forward(Random<double>(5, 1, 1, [4, 3])));   // wrong channel count
        bn.Forward(batch);
        RecalibrationReport report = session.Complete();
        Assert.Equal(1L, report.Layers[0].Batches);
        var (mean, variance) = OneForward(new BatchNorm1d<double>(2), batch);
        AssertRelative(mean, Values(bn.RunningMean!), 1e-15);
        AssertRelative(variance, Values(bn.RunningVar!), 1e-15);
    }

    [Fact]
    public void Begin_RefusesUninitializedLazyLayers_LayersInAnotherSession_AndDuplicates_ChangingNothing()
    {
        var bn = new BatchNorm1d(2);
        bn.Eval();
        var lazy = new LazyBatchNorm1d();
        var error = Assert.Throws<ArgumentException>(() => Recalibration.Begin(new NormModuleCollection { ["bn"] = bn, ["lazy"] = lazy }));
        Assert.Contains("layer \"lazy\" (LazyBatchNorm1d) is a lazy layer that has not been initialized", error.Message, StringComparison.Ordinal);
        Assert.False(bn.Training);
        Assert.Null(bn.StatisticsRecorder);

        using (Recalibration.Begin(bn))
        {
            var busy = Assert.Throws<InvalidOperationException>(() => Recalibration.Begin(new NormModuleCollection { ["x"] = bn }));
            Assert.Contains("already being recorded", busy.Message, StringComparison.Ordinal);
        }

        var twice = Assert.Throws<ArgumentException>(() => Recalibration.Begin(new NormModuleCollection { ["a"] = bn, ["b"] = bn }));
        Assert.Contains("appears twice", twice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Complete_Twice_Throws_AndDisposeAfterCompleteChangesNothing()
    {
        var bn = new BatchNorm1d<double>(2);
        RecalibrationSession session = Recalibration.Begin(bn);
        bn.Forward(Random<double>(1, 0, 1, [4, 2]));
        session.Complete();
        double[] mean = Values(bn.RunningMean!);
        Assert.Throws<ObjectDisposedException>(() => session.Complete());
        session.Dispose();
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }
}
