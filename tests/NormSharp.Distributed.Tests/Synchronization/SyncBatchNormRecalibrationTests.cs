using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.Synchronization;

/// <summary>Recalibration of a SyncBatchNorm: every process records the whole batch's statistics, so every process ends with
/// the statistics one BatchNorm recalibrated on the whole batches gets.</summary>
public sealed class SyncBatchNormRecalibrationTests
{
    private static Tensor<double> Input(int seed, params nint[] shape)
    {
        var random = new Random(seed);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        return Tensor.Create(Enumerable.Range(0, (int)count).Select(_ => random.NextDouble() * 4 + 100).ToArray(), shape);
    }

    [Fact]
    public void EveryProcess_RecordsTheWholeBatch_AndEndsWithOneBatchNormsRecalibration()
    {
        // Three whole batches of 7, 4 and 5 samples, shared unevenly (one share empty).
        int[][] shares = [[4, 3], [0, 4], [2, 3]];
        Tensor<double>[][] parts = [.. shares.Select((s, b) => s.Select((n, rank) => Input(100 * b + rank, n, 3, 5)).ToArray())];

        var whole = new BatchNorm1d<double>(3);
        using (RecalibrationSession session = Recalibration.Begin(whole))
        {
            foreach (Tensor<double>[] batch in parts)
            {
                double[] values = [.. batch.SelectMany(p => p)];
                whole.Forward(Tensor.Create(values, [values.Length / 15, 3, 5]));
            }

            session.Complete();
        }

        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, TimeSpan.FromSeconds(20));
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(3, processGroup: group);
            using RecalibrationSession session = Recalibration.Begin(bn);
            foreach (Tensor<double>[] batch in parts) bn.Forward(batch[group.Rank]);
            session.Complete();
            return (Mean: bn.RunningMean!.ToArray(), Var: bn.RunningVar!.ToArray(), bn.NumBatchesTracked);
        });

        foreach (var (result, error) in results)
        {
            Assert.Null(error);
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(whole.RunningMean![c], result.Mean[c], 1e-12 * 100);
                Assert.True(Math.Abs(whole.RunningVar![c] - result.Var[c]) <= 1e-12 * whole.RunningVar[c], $"channel {c}: {result.Var[c]:R} vs {whole.RunningVar[c]:R}");
            }

            Assert.Equal(3L, result.NumBatchesTracked);
        }
    }
}
