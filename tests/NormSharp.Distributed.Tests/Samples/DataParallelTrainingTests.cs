using DataParallelTraining;
using NormSharp.Distributed.Tests.Support;
using Xunit.Abstractions;

namespace NormSharp.Distributed.Tests.Samples;

/// <summary>The data-parallel sample's claim, with each process a thread: training over K processes, each on its share
/// of every batch, equals one process training on the whole batches (losses and final weights).</summary>
public sealed class DataParallelTrainingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(2, false, 1e-5)]
    [InlineData(3, false, 1e-5)]
    [InlineData(2, true, 1e-12)]
    [InlineData(3, true, 1e-12)]
    public void TrainingOnShares_EqualsOneProcessOnWholeBatches(int processes, bool useDouble, double tolerance)
    {
        var options = new DataParallel.Options(Epochs: 4);
        DataParallel.Result alone = useDouble ? DataParallel.Train<double>(options, null) : DataParallel.Train<float>(options, null);
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(processes, TimeSpan.FromSeconds(60));
        var results = ThreadProcessGroup.Run(groups, group => useDouble ? DataParallel.Train<double>(options, group) : DataParallel.Train<float>(options, group));
        foreach ((DataParallel.Result? parallel, Exception? error) in results)
        {
            Assert.Null(error);
            double losses = Largest(parallel!.Losses, alone.Losses), weights = Largest(parallel.Weights, alone.Weights);
            output.WriteLine($"{processes} processes, {(useDouble ? "double" : "float")}: losses {losses:E2}, weights {weights:E2}");
            Assert.True(losses <= tolerance, $"losses differ by {losses:E2}");
            Assert.True(weights <= tolerance, $"weights differ by {weights:E2}");
        }

        Assert.True(alone.Losses[^1] < alone.Losses[0], "the network learns");
    }

    private static double Largest(double[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double largest = 0;
        for (int i = 0; i < actual.Length; i++) largest = Math.Max(largest, Math.Abs(actual[i] - expected[i]) / Math.Max(1, Math.Abs(expected[i])));
        return largest;
    }
}
