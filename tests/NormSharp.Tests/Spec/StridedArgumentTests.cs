using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 5: the functional ops accept running_mean, running_var, weight and bias with any strides, as
/// PyTorch does (test/test_ops.py <c>test_noncontiguous_samples</c> runs F.batch_norm / F.instance_norm on non-contiguous
/// copies of every OpInfo sample and expects the contiguous result), and write the running statistics back through the
/// view. Each strided call is compared with the same call on dense copies: bit for bit, and the memory between the view's
/// elements untouched.
/// </summary>
public class StridedArgumentTests
{
    private const float Gap = -777f;

    /// <summary>The values at every <paramref name="step"/>-th element of a fresh array (filled with <see cref="Gap"/>), from
    /// index <paramref name="start"/>: a view with stride <paramref name="step"/>, and the array behind it.</summary>
    private static (Tensor<T> View, T[] Memory) Strided<T>(double[] values, int step, int start = 1) where T : System.Numerics.IFloatingPointIeee754<T>
    {
        var memory = Enumerable.Repeat(T.CreateTruncating(Gap), start + step * values.Length + 2).ToArray();
        for (int i = 0; i < values.Length; i++) memory[start + i * step] = T.CreateTruncating(values[i]);
        return (Tensor.Create(memory, start, [values.Length], [step]), memory);
    }

    private static Tensor<T> Dense<T>(double[] values) where T : System.Numerics.IFloatingPointIeee754<T> =>
        Tensor.Create(values.Select(T.CreateTruncating).ToArray(), [values.Length]);

    private static void AssertGapsUntouched<T>(T[] memory, int step, int start, int count) where T : System.Numerics.IFloatingPointIeee754<T>
    {
        for (int i = 0; i < memory.Length; i++)
        {
            bool element = i >= start && i < start + step * count && (i - start) % step == 0;
            if (!element) Assert.Equal(Gap, float.CreateTruncating(memory[i]));
        }
    }

    [Theory]
    [InlineData(true, 2)]
    [InlineData(true, 3)]
    [InlineData(false, 2)]
    public void BatchNorm_StridedRunningStatisticsWeightAndBias_GiveTheDenseResult_AndAreUpdatedThroughTheView(bool training, int step)
    {
        Tensor<double> x = Random<double>(1, 2, 3, 6, 4, 5);
        double[] mean = [0.5, -1, 2, 0], variance = [1, 2, 0.5, 3], weight = [1.5, 2, -1, 0.25], bias = [0, 1, -2, 3];
        var (rm, rmMemory) = Strided<double>(mean, step);
        var (rv, rvMemory) = Strided<double>(variance, step);
        var (w, _) = Strided<double>(weight, step, start: 0);
        var (b, _) = Strided<double>(bias, step, start: 2);
        Tensor<double> denseMean = Dense<double>(mean), denseVar = Dense<double>(variance);

        Tensor<double> y = Functional.BatchNorm(x, rm, rv, w, b, training, momentum: 0.3, eps: 1e-5);
        Tensor<double> expected = Functional.BatchNorm(x, denseMean, denseVar, Dense<double>(weight), Dense<double>(bias), training, momentum: 0.3, eps: 1e-5);

        Assert.Equal(Values(expected), Values(y));
        Assert.Equal(Values(denseMean), Values(rm));
        Assert.Equal(Values(denseVar), Values(rv));
        Assert.Equal(training, !Values(rm).SequenceEqual(mean));
        AssertGapsUntouched(rmMemory, step, 1, 4);
        AssertGapsUntouched(rvMemory, step, 1, 4);
    }

    [Fact]
    public void BatchNorm_AColumnOfAMatrix_AsRunningMean_IsUpdatedInPlace_TheOtherColumnUntouched()
    {
        // PyTorch: rm = table[:, 0] of a (C, 2) tensor; F.batch_norm writes that column only.
        float[] table = [0, 10, 0, 20, 0, 30];
        Tensor<float> rm = Tensor.Create(table, 0, [3], [2]);
        Tensor<float> x = Random(4, 5, 3);
        Tensor<float> denseMean = Floats([0, 0, 0], 3);
        Functional.BatchNorm(x, denseMean, null, null, null, training: true);
        Functional.BatchNorm(x, rm, null, null, null, training: true);
        Assert.Equal(Values(denseMean), new double[] { table[0], table[2], table[4] });
        Assert.Equal(new float[] { 10, 20, 30 }, new[] { table[1], table[3], table[5] });
    }

    [Fact]
    public void NativeBatchNorm_WithStridedArguments_ReturnsTheDenseStatistics()
    {
        Tensor<float> x = Random(5, 6, 3, 4);
        var (rm, _) = Strided<float>([0, 0, 0], 2);
        var (rv, _) = Strided<float>([1, 1, 1], 2);
        var (w, _) = Strided<float>([1, 2, 3], 3);
        BatchNormResult<float> strided = Functional.NativeBatchNorm(x, w, null, rm, rv, training: true, momentum: 0.1, eps: 1e-5);
        BatchNormResult<float> dense = Functional.NativeBatchNorm(x, Floats([1, 2, 3], 3), null, Floats([0, 0, 0], 3), Floats([1, 1, 1], 3),
                                                                  training: true, momentum: 0.1, eps: 1e-5);
        Assert.Equal(Values(dense.Output), Values(strided.Output));
        Assert.Equal(Values(dense.SaveMean), Values(strided.SaveMean));
        Assert.Equal(Values(dense.SaveInvStd), Values(strided.SaveInvStd));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void InstanceNorm_StridedArguments_GiveTheDenseResult_AndUpdateThroughTheView(bool useInputStats)
    {
        Tensor<float> x = Random(7, 3, 2, 5);
        double[] mean = [0.5, -0.5], variance = [2, 0.5];
        var (rm, rmMemory) = Strided<float>(mean, 3);
        var (rv, rvMemory) = Strided<float>(variance, 2);
        var (w, _) = Strided<float>([2, -1], 4);
        Tensor<float> denseMean = Dense<float>(mean), denseVar = Dense<float>(variance);

        Tensor<float> y = Functional.InstanceNorm(x, rm, rv, w, null, useInputStats, momentum: 0.2);
        Tensor<float> expected = Functional.InstanceNorm(x, denseMean, denseVar, Floats([2, -1], 2), null, useInputStats, momentum: 0.2);

        Assert.Equal(Values(expected), Values(y));
        Assert.Equal(Values(denseMean), Values(rm));
        Assert.Equal(Values(denseVar), Values(rv));
        AssertGapsUntouched(rmMemory, 3, 1, 2);
        AssertGapsUntouched(rvMemory, 2, 1, 2);
    }

    [Fact]
    public void InstanceNorm_EmptyBatch_MakesStridedRunningStatisticsNaN_ThroughTheView()
    {
        var (rm, memory) = Strided<float>([1, 2, 3], 2);
        Functional.InstanceNorm(Tensor.CreateFromShape<float>([0, 3, 4]), rm, null);
        Assert.All(Values(rm), v => Assert.True(double.IsNaN(v)));
        AssertGapsUntouched(memory, 2, 1, 3);
    }

    [Fact]
    public void BatchNormUpdateStats_StridedRunningStatistics_AreUpdatedThroughTheView()
    {
        Tensor<double> x = Random<double>(9, 0, 1, 5, 2, 3);
        var (rm, memory) = Strided<double>([0, 0], 3);
        Tensor<double> dense = Dense<double>([0, 0]);
        Functional.BatchNormUpdateStats(x, rm, null, 0.4);
        Functional.BatchNormUpdateStats(x, dense, null, 0.4);
        Assert.Equal(Values(dense), Values(rm));
        AssertGapsUntouched(memory, 3, 1, 2);
    }

    [Fact]
    public void AFailingCall_LeavesStridedRunningStatisticsUntouched()
    {
        var (rm, memory) = Strided<float>([0, 0, 0], 2);
        float[] before = (float[])memory.Clone();
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(Random(1, 1, 3), rm, null, null, null, training: true));
        Assert.Equal("Expected more than 1 value per channel when training, got input size [1, 3]", e.Message);
        Assert.Equal(before, memory);
    }

    [Fact]
    public void BroadcastRunningStatistic_WrittenByTheCall_IsRefused_ReadOnly_IsAccepted()
    {
        // A stride-0 view repeats one element: PyTorch writes it in an order it does not define; NormSharp refuses to write it.
        float[] memory = [0.5f];
        Tensor<float> broadcast = Tensor.Create(memory, 0, [3], [0]);
        Tensor<float> x = Random(2, 4, 3);
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, broadcast, null, null, null, training: true));
        Assert.Equal("running_mean has elements that share one memory location (a broadcast view): a tensor this call writes needs " +
                     "distinct elements; pass a copy.", e.Message);
        Assert.Throws<ArgumentException>(() => Functional.InstanceNorm(Random(3, 2, 3, 4), Floats([0, 0, 0], 3), broadcast));
        Assert.Throws<ArgumentException>(() => Functional.BatchNormUpdateStats(x, null, broadcast, 0.1));
        Assert.Equal([0.5f], memory);

        // Read (evaluation, or a weight): any strides, a broadcast included.
        Tensor<float> evaluated = Functional.BatchNorm(x, broadcast, Floats([1, 1, 1], 3), broadcast, null, training: false);
        Tensor<float> expected = Functional.BatchNorm(x, Floats([0.5f, 0.5f, 0.5f], 3), Floats([1, 1, 1], 3), Floats([0.5f, 0.5f, 0.5f], 3), null, training: false);
        Assert.Equal(Values(expected), Values(evaluated));
    }

    [Fact]
    public void StridedViewsOfOneArray_AsRunningMeanAndVar_StillCountAsSharingMemory()
    {
        // The shared-memory rule is unchanged: interleaved views overlap by their memory ranges (docs/threading.md).
        float[] stats = [0, 1, 0, 1, 0, 1];
        Tensor<float> rm = Tensor.Create(stats, 0, [3], [2]), rv = Tensor.Create(stats, 1, [3], [2]);
        var e = Assert.Throws<ArgumentException>(() => Functional.InstanceNorm(Random(1, 2, 3, 4), rm, rv));
        Assert.Equal("running_mean shares memory with running_var: a tensor this call writes must not overlap another argument.", e.Message);
    }
}
