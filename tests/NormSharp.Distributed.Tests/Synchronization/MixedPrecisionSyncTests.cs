using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.Synchronization;

/// <summary>
/// SyncBatchNorm with float16 and bfloat16 input (a float32 layer's mixed-precision call, <see cref="MixedPrecision"/>): the
/// statistics exchange is the float path's (every process's statistics in double), the header carries the input's element
/// type, and each rank's results are one BatchNorm's on the whole batch.
/// </summary>
public sealed class MixedPrecisionSyncTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>A (n, 3, 4, 5) share of a batch: rows [first, first + n) of one seeded batch, rounded to the 16-bit type.</summary>
    private static float[] Batch(int seed, int n)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n * 60).Select(_ => (float)(random.NextDouble() * 6 - 2))];
    }

    private static Tensor<TStorage> Share<TStorage>(float[] batch, int first, int n) where TStorage : unmanaged =>
        Tensor.Create(batch.Skip(first * 60).Take(n * 60).Select(Convert<TStorage>).ToArray(), [n, 3, 4, 5]);

    private static TStorage Convert<TStorage>(float value) where TStorage : unmanaged =>
        typeof(TStorage) == typeof(Half) ? (TStorage)(object)(Half)value : (TStorage)(object)(BFloat16)value;

    private static double[] Values<TStorage>(Tensor<TStorage> tensor) where TStorage : unmanaged =>
        [.. tensor.ToArray().Select(v => v switch { Half h => (double)h, BFloat16 b => (double)b, _ => throw new NotSupportedException() })];

    private static Tensor<TStorage> Forward<TStorage>(NormBase<float> layer, Tensor<TStorage> x) where TStorage : unmanaged =>
        x is Tensor<Half> h ? (Tensor<TStorage>)(object)layer.Forward(h) : (Tensor<TStorage>)(object)layer.Forward((Tensor<BFloat16>)(object)x);

    private static Tensor<TStorage> Backward<TStorage>(NormBase<float> layer, Tensor<TStorage> dy) where TStorage : unmanaged =>
        dy is Tensor<Half> h ? (Tensor<TStorage>)(object)layer.Backward(h) : (Tensor<TStorage>)(object)layer.Backward((Tensor<BFloat16>)(object)dy);

    [Theory]
    [InlineData("Half", 2)]
    [InlineData("Half", 3)]
    [InlineData("BFloat16", 2)]
    [InlineData("BFloat16", 3)]
    public void SixteenBitInput_OnEveryRank_EqualsOneBatchNormOnTheWholeBatch(string storage, int processes)
    {
        if (storage == "Half") Check<Half>(processes, Math.Pow(2, -11));
        else Check<BFloat16>(processes, Math.Pow(2, -8));

        static void Check<TStorage>(int processes, double u16) where TStorage : unmanaged
        {
            int[] rows = processes == 2 ? [3, 5] : [2, 0, 6];   // uneven shares, one empty
            int[] firsts = [.. rows.Select((_, r) => rows.Take(r).Sum())];
            int total = rows.Sum();
            var whole = new BatchNorm2d(3);
            var outputs = new List<double[]>();
            var inputGradients = new List<double[]>();
            for (int step = 0; step < 2; step++)
            {
                float[] x = Batch(step, total), dy = Batch(100 + step, total);
                outputs.Add(Values(Forward(whole, Share<TStorage>(x, 0, total))));
                inputGradients.Add(Values(Backward(whole, Share<TStorage>(dy, 0, total))));
            }

            ThreadProcessGroup[] groups = ThreadProcessGroup.Create(processes, Timeout);
            var results = ThreadProcessGroup.Run(groups, group =>
            {
                var bn = new SyncBatchNorm(3, processGroup: group);
                int first = firsts[group.Rank], n = rows[group.Rank];
                for (int step = 0; step < 2; step++)
                {
                    float[] x = Batch(step, total), dy = Batch(100 + step, total);
                    double[] y = Values(Forward(bn, Share<TStorage>(x, first, n)));
                    double[] dx = Values(Backward(bn, Share<TStorage>(dy, first, n)));
                    // The statistics are combined in another order than one layer's: each 16-bit result within one spacing.
                    AssertWithinOneSpacing(outputs[step].AsSpan(first * 60, n * 60), y, u16, $"rank {group.Rank} step {step} output");
                    AssertWithinOneSpacing(inputGradients[step].AsSpan(first * 60, n * 60), dx, u16, $"rank {group.Rank} step {step} dx");
                }

                return (bn.RunningMean!.ToArray(), bn.RunningVar!.ToArray(), bn.NumBatchesTracked);
            });
            foreach (var (result, error) in results)
            {
                if (error is not null) throw new Xunit.Sdk.XunitException(error.ToString());
                var (mean, variance, counter) = result;
                Assert.Equal(2, counter);
                for (int c = 0; c < 3; c++)
                {
                    Assert.True(Math.Abs(mean[c] - whole.RunningMean![c]) <= 1e-6, $"running_mean[{c}]");
                    Assert.True(Math.Abs(variance[c] - whole.RunningVar![c]) <= 1e-6 * whole.RunningVar[c], $"running_var[{c}]");
                }
            }
        }
    }

    [Fact]
    public void OneProcess_SixteenBitInput_IsBitIdenticalToBatchNorm()
    {
        ThreadProcessGroup group = ThreadProcessGroup.Create(1, Timeout)[0];
        var sync = new SyncBatchNorm(3, processGroup: group);
        var bn = new BatchNorm2d(3);
        for (int step = 0; step < 3; step++)
        {
            Tensor<Half> x = Share<Half>(Batch(step, 4), 0, 4), dy = Share<Half>(Batch(10 + step, 4), 0, 4);
            Assert.Equal(Values(bn.Forward(x)), Values(sync.Forward(x)));
            Assert.Equal(Values(bn.Backward(dy)), Values(sync.Backward(dy)));
        }

        Assert.Equal(bn.RunningVar!.ToArray(), sync.RunningVar!.ToArray());
        Assert.Equal(bn.Weight!.Grad!.ToArray(), sync.Weight!.Grad!.ToArray());
        Assert.Equal(0, group.Collectives);
    }

    [Fact]
    public void ProcessesWithDifferentInputTypes_FailAlike_NamingEachProcesssElementType()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm(3, processGroup: group);
            float[] x = Batch(1, 4);
            Exception error = group.Rank == 0
                ? Assert.Throws<InvalidOperationException>(() => bn.Forward(Share<Half>(x, 0, 2)))
                : Assert.Throws<InvalidOperationException>(() => bn.Forward(Tensor.Create(x.Skip(120).ToArray(), [2, 3, 4, 5])));
            return (error.Message, bn.NumBatchesTracked, bn.RunningMean!.ToArray());
        });
        foreach (var (result, error) in results)
        {
            Assert.Null(error);
            Assert.Equal("SyncBatchNorm: the processes' layers disagree on the element type (process 0: half, process 1: float). Nothing changed.", result.Message);
            Assert.Equal(0, result.NumBatchesTracked);
            Assert.Equal(new float[3], result.Item3);
        }
    }

    private static void AssertWithinOneSpacing(ReadOnlySpan<double> expected, double[] actual, double u16, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 2 * u16 * Math.Abs(expected[i]) + 1e-6, $"{context}, element {i}: {expected[i]:R} vs {actual[i]:R}");
    }
}
