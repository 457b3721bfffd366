using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Readme;

/// <summary>The README's statistics-policies walk-through, compiled and run: if this breaks, the README is wrong.</summary>
public class PolicyReadmeTests
{
    [Fact]
    public void FrozenFineTuning_AndBatchOfOneStream_RunAsTheReadmeSays()
    {
        Tensor<float> x = Random(1, 4, 8, 3, 3), dy = Random(2, 4, 8, 3, 3);
        Tensor<float> warmup = Random(3, 32, 16), single = Random(4, 1, 16);

        // --- README policies example ---
        var bn1 = new BatchNorm2d(8);
        var bn2 = new BatchNorm2d(8);
        var model = new NormModuleCollection { ["bn1"] = bn1, ["bn2"] = bn2 };
        model.SetPolicies(freezeStatistics: true);
        bn1.Train();
        Tensor<float> y = bn1.Forward(x);
        Tensor<float> dx = bn1.Backward(dy);

        var online = new BatchNorm1d(16) { SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics };
        online.Forward(warmup);
        online.Forward(single);
        // --- end of README policies example ---

        Assert.Equal(0, bn1.NumBatchesTracked);
        Assert.True(bn2.FreezeStatistics);
        Assert.Equal(Values(x).Select(v => v / Math.Sqrt(1 + 1e-5)).ToArray(), Values(y).ToArray(), (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.NotNull(bn1.Weight!.Grad);
        Assert.Equal(x.FlattenedLength, dx.FlattenedLength);
        Assert.Equal(1, online.NumBatchesTracked);
    }

    [Fact]
    public void GhostBatchExample_RunsAsTheReadmeSays()
    {
        Tensor<float> batch = Random(5, 97, 16), dyGhost = Random(6, 97, 16);

        var ghost = new BatchNorm1d(16) { VirtualBatchSize = 32, SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics };
        ghost.Forward(batch);
        Tensor<float> dxGhost = ghost.Backward(dyGhost);

        Assert.Equal(3, ghost.NumBatchesTracked);
        Assert.Equal([97, 16], dxGhost.Lengths.ToArray());
        string readme = File.ReadAllText(Path.Combine(Support.RepositoryPaths.Root, "README.md"));
        Assert.Contains("var ghost = new BatchNorm1d(16) { VirtualBatchSize = 32, SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics };", readme, StringComparison.Ordinal);
        Assert.Contains("NumBatchesTracked == 3", readme, StringComparison.Ordinal);
    }
}
