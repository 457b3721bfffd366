using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// <c>Functional.BatchNormUpdateStats</c>, the twin of <c>torch.batch_norm_update_stats</c> (ATen's
/// <c>batch_norm_update_stats_cpu</c>: <c>batch_norm_cpu_update_stats_template</c> with the <c>Var</c> transform, eps 0):
/// the batch mean and <b>biased</b> variance, running statistics blended with the unbiased one. Values observed on PyTorch
/// 1.13 (the function is unchanged in 2.x apart from its empty-input check, read in Normalization.cpp).
/// </summary>
public class BatchNormUpdateStatsTests
{
    [Fact]
    public void ReturnsMeanAndBiasedVariance_AndMovesTheRunningStatistics()
    {
        // torch.batch_norm_update_stats(tensor([[1., 2.], [3., 5.], [8., 13.]]), zeros(2), ones(2), 0.1)
        // -> (tensor([4.0000, 6.6667]), tensor([ 8.6667, 21.5556])); running_mean [0.4000, 0.6667], running_var [2.2000, 4.1333]
        Tensor<double> x = Tensor.Create(new double[] { 1, 2, 3, 5, 8, 13 }, [3, 2]);
        Tensor<double> rm = Tensor.Create(new double[] { 0, 0 }, [2]), rv = Tensor.Create(new double[] { 1, 1 }, [2]);
        var (mean, variance) = Functional.BatchNormUpdateStats(x, rm, rv, momentum: 0.1);
        AllClose([4, 20.0 / 3], Values(mean), 1e-15);
        AllClose([26.0 / 3, 194.0 / 9], Values(variance), 1e-14);
        AllClose([0.4, 2.0 / 3], Values(rm), 1e-15);
        AllClose([0.9 + 0.1 * 13, 0.9 + 0.1 * 97.0 / 3], Values(rv), 1e-14);
    }

    [Theory]
    [InlineData(new int[] { 8, 3 })]
    [InlineData(new int[] { 4, 3, 5 })]
    [InlineData(new int[] { 2, 3, 4, 5 })]
    [InlineData(new int[] { 2, 3, 2, 3, 2 })]
    public void MovesTheRunningStatistics_ExactlyAsATrainingBatchNormForward(int[] shape)
    {
        nint[] lengths = shape.Select(l => (nint)l).ToArray();
        Tensor<float> x = Random<float>(shape.Sum(), 3, 2, lengths);
        Tensor<float> rm = Floats([0.5f, -1, 2], 3), rv = Floats([1, 2, 3], 3);
        Tensor<float> forwardMean = Floats([0.5f, -1, 2], 3), forwardVar = Floats([1, 2, 3], 3);
        var (mean, variance) = Functional.BatchNormUpdateStats(x, rm, rv, momentum: 0.25);
        BatchNormResult<float> forward = Functional.NativeBatchNorm(x, null, null, forwardMean, forwardVar, training: true, momentum: 0.25, eps: 1e-5);

        Assert.Equal(Values(forwardMean), Values(rm));
        Assert.Equal(Values(forwardVar), Values(rv));
        Assert.Equal(Values(forward.SaveMean), Values(mean));
        // invStd = 1 / sqrt(var_b + eps): the same variance.
        AllClose(Values(forward.SaveInvStd), Values(variance).Select(v => 1 / Math.Sqrt(v + 1e-5)).ToArray(), 0, 1e-6);

        // Against the definition: mean and biased variance over every dimension but 1.
        var (n, c, s) = Nc(lengths);
        double[] values = Values(x);
        for (int ch = 0; ch < c; ch++)
        {
            double[] channel = Enumerable.Range(0, n).SelectMany(i => Enumerable.Range(0, s).Select(j => values[(i * c + ch) * s + j])).ToArray();
            double m = channel.Average();
            AllClose([m], [Values(mean)[ch]], 1e-5);
            AllClose([channel.Select(v => (v - m) * (v - m)).Average()], [Values(variance)[ch]], 0, 1e-5);
        }
    }

    [Fact]
    public void WithoutRunningStatistics_OnlyReturnsTheStatistics()
    {
        var (mean, variance) = Functional.BatchNormUpdateStats(Floats([1, 2, 3, 5, 8, 13], 3, 2), null, null, momentum: 0.5);
        AllClose([4, 20.0 / 3], Values(mean), 1e-6);
        AllClose([26.0 / 3, 194.0 / 9], Values(variance), 1e-5);
    }

    [Fact]
    public void OneValuePerChannel_IsNotAnError_TheRunningVarianceBecomesNaN()
    {
        // PyTorch: no one-value check here; the unbiased variance is 0 / 0.
        Tensor<float> rm = Floats([0, 0], 2), rv = Floats([1, 1], 2);
        var (mean, variance) = Functional.BatchNormUpdateStats(Floats([1, 2], 1, 2), rm, rv, momentum: 0.5);
        Assert.Equal([1.0, 2], Values(mean));
        Assert.Equal([0.0, 0], Values(variance));
        Assert.Equal([0.5, 1], Values(rm));
        Assert.All(Values(rv), v => Assert.True(double.IsNaN(v)));
    }

    [Fact]
    public void BadInput_FailsWithATensMessages_AndChangesNothing()
    {
        Tensor<float> rm = Floats([0, 0, 0], 3), rv = Floats([1, 1, 1], 3);
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNormUpdateStats(Floats([1, 2, 3], 3), rm, rv, 0.1));
        Assert.Equal("Dimension out of range (expected to be in range of [-1, 0], but got 1)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.BatchNormUpdateStats(Tensor.CreateFromShape<float>([0, 3]), rm, rv, 0.1));
        Assert.Equal("input tensor must have at least one element, but got input_sizes = [0, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.BatchNormUpdateStats(Tensor.CreateFromShape<float>([0]), rm, rv, 0.1));
        Assert.Equal("Dimension out of range (expected to be in range of [-1, 0], but got 1)", e.Message);
        // PyTorch does not check the lengths (it writes past a short buffer); NormSharp refuses with ATen's usual message.
        e = Assert.Throws<ArgumentException>(() => Functional.BatchNormUpdateStats(Random(1, 4, 3), rm, Floats([1, 1], 2), 0.1));
        Assert.Equal("running_var should contain 3 elements not 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.BatchNormUpdateStats(Random(1, 4, 3), rm, rm, 0.1));
        Assert.StartsWith("running_mean shares memory with running_var", e.Message, StringComparison.Ordinal);
        Assert.Equal([0.0, 0, 0], Values(rm));
        Assert.Equal([1.0, 1, 1], Values(rv));
    }
}
