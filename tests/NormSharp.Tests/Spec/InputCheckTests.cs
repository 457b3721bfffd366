using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 5 (input checks, PyTorch's messages) and section 2 step 7 (atomicity).</summary>
public class InputCheckTests
{
    public static TheoryData<string, int[], string> WrongRanks => new()
    {
        { "1d", [2, 3, 4, 5], "expected 2D or 3D input (got 4D input)" },
        { "1d", [3], "expected 2D or 3D input (got 1D input)" },
        { "2d", [2, 3, 4], "expected 4D input (got 3D input)" },
        { "2d", [2, 3, 4, 4, 4], "expected 4D input (got 5D input)" },
        { "3d", [2, 3, 4, 4], "expected 5D input (got 4D input)" },
    };

    private static BatchNorm<float> Create(string kind, int c = 3, bool affine = true, bool track = true) => kind switch
    {
        "1d" => new BatchNorm1d(c, affine: affine, trackRunningStats: track),
        "2d" => new BatchNorm2d(c, affine: affine, trackRunningStats: track),
        _ => new BatchNorm3d(c, affine: affine, trackRunningStats: track),
    };

    [Theory]
    [MemberData(nameof(WrongRanks))]
    public void Forward_WrongRank_ThrowsPyTorchsMessageAndCounterUnchanged(string kind, int[] shape, string message)
    {
        BatchNorm<float> bn = Create(kind);
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, shape.Select(l => (nint)l).ToArray())));
        Assert.Equal(message, e.Message);
        Assert.Equal(0L, bn.NumBatchesTracked);
    }

    [Theory]
    [InlineData("1d", new[] { 1, 3 }, "[1, 3]")]
    [InlineData("1d", new[] { 1, 3, 1 }, "[1, 3, 1]")]
    [InlineData("2d", new[] { 1, 3, 1, 1 }, "[1, 3, 1, 1]")]
    [InlineData("3d", new[] { 1, 3, 1, 1, 1 }, "[1, 3, 1, 1, 1]")]
    public void Train_OneValuePerChannel_ThrowsWithTheInputSize(string kind, int[] shape, string size)
    {
        BatchNorm<float> bn = Create(kind);
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, shape.Select(l => (nint)l).ToArray())));
        Assert.Equal($"Expected more than 1 value per channel when training, got input size {size}", e.Message);
    }

    [Fact]
    public void Train_OneSampleWithTwoPositions_IsAccepted_UnbiasedVarianceDividesByOne()
    {
        var bn = new BatchNorm1d(1, momentum: 1.0);
        bn.Forward(Floats([1f, 3f], 1, 1, 2));
        Assert.Equal(2.0, bn.RunningVar![0], 6);
    }

    [Fact]
    public void Train_OneValuePerChannel_ChangesNothing_TheDeliberateDifferenceFromPyTorch()
    {
        // PyTorch increments num_batches_tracked before this check fails; NormSharp checks first.
        var bn = new BatchNorm1d(3);
        Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, 1, 3)));
        Assert.Equal(0L, bn.NumBatchesTracked);
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
        Assert.Equal([1.0, 1, 1], Values(bn.RunningVar!));
    }

    [Fact]
    public void ChannelMismatch_WithBuffers_RunningMeanMessageAndNothingChanges()
    {
        var bn = new BatchNorm2d(3);
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, 2, 4, 5, 5)));
        Assert.Equal("running_mean should contain 4 elements not 3", e.Message);
        Assert.Equal(0L, bn.NumBatchesTracked);
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
    }

    [Fact]
    public void ChannelMismatch_SeenInTheSpec_BatchNorm1dOnFiveChannels()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchNorm1d(3).Forward(Random(1, 4, 5)));
        Assert.Equal("running_mean should contain 5 elements not 3", e.Message);
    }

    [Fact]
    public void ChannelMismatch_WithoutBuffersWithAffine_WeightMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchNorm2d(3, trackRunningStats: false).Forward(Random(1, 2, 4, 5, 5)));
        Assert.Equal("weight should contain 4 elements not 3", e.Message);
    }

    [Fact]
    public void ChannelMismatch_WithoutBuffersOrAffine_AnyChannelCountIsNormalized()
    {
        Tensor<float> y = new BatchNorm2d(3, affine: false, trackRunningStats: false).Forward(Random(1, 2, 4, 5, 5));
        Assert.Equal([2, 4, 5, 5], y.Lengths.ToArray());
    }

    [Fact]
    public void ChannelMismatch_IsCheckedAfterTheOneValueCheck()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchNorm1d(3).Forward(Random(1, 1, 5)));
        Assert.StartsWith("Expected more than 1 value per channel", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Functional_ChannelChecks_RunningMeanThenRunningVarThenWeightThenBias()
    {
        Tensor<float> x = Random(1, 4, 2);
        Tensor<float> two = Tensor.Create(new float[2], [2]), three = Tensor.Create(new float[3], [3]);
        Assert.Equal("running_mean should contain 2 elements not 3",
            Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, three, three, three, three, true)).Message);
        Assert.Equal("running_var should contain 2 elements not 3",
            Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, two, three, three, three, true)).Message);
        Assert.Equal("weight should contain 2 elements not 3",
            Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, two, two, three, three, true)).Message);
        Assert.Equal("bias should contain 2 elements not 3",
            Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, two, two, two, three, true)).Message);
    }

    [Fact]
    public void Functional_EvalWithoutRunningStatistics_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(Random(1, 4, 2), null, null, null, null, training: false));
        Assert.Equal("running_mean must be defined in evaluation mode", e.Message);
        Tensor<float> two = Tensor.Create(new float[] { 0, 0 }, [2]);
        e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(Random(1, 4, 2), two, null, null, null, training: false));
        Assert.Equal("running_var must be defined in evaluation mode", e.Message);
    }

    [Fact]
    public void Functional_TrainingWithOnlyRunningMean_UpdatesJustThatBuffer()
    {
        Tensor<float> rm = Tensor.Create(new float[] { 0, 0 }, [2]);
        Functional.BatchNorm(Floats([1, 2, 3, 4], 2, 2), rm, null, null, null, training: true, momentum: 1.0);
        Assert.Equal([2.0, 3.0], Values(rm));
    }

    [Fact]
    public void Functional_ChannelCheckFails_RunningStatisticsUnchanged()
    {
        Tensor<float> rm = Tensor.Create(new float[] { 5, 5 }, [2]);
        Tensor<float> rv = Tensor.Create(new float[] { 2, 2 }, [2]);
        Tensor<float> w = Tensor.Create(new float[3], [3]);
        Assert.Throws<ArgumentException>(() => Functional.BatchNorm(Random(1, 4, 2), rm, rv, w, null, training: true));
        Assert.Equal([5.0, 5], Values(rm));
        Assert.Equal([2.0, 2], Values(rv));
    }

    [Theory]
    [InlineData(true, 0.0, "batch_norm eps must be positive during training, but got 0.0")]
    [InlineData(true, -1.0, "batch_norm eps must be positive during training, but got -1.0")]
    [InlineData(false, -1.0, "batch_norm eps must be non-negative, but got -1.0")]
    public void Eps_NotPositiveInTrainingOrNegativeInEval_ThrowsAndChangesNothing(bool training, double eps, string message)
    {
        var bn = new BatchNorm1d(2) { Eps = eps };
        bn.Train(training);
        var e = Assert.Throws<ArgumentException>(() => bn.Forward(Random(1, 4, 2)));
        Assert.Equal(message, e.Message);
        Assert.Equal(0L, bn.NumBatchesTracked);
    }

    [Fact]
    public void Eps_ZeroInEvalWithBuffers_IsAccepted()
    {
        var bn = new BatchNorm1d(1) { Eps = 0.0 };
        bn.Eval();
        Assert.Equal(2.0, bn.Forward(Floats([2f, 2f], 2, 1))[0, 0], 6);
    }

    [Fact]
    public void EveryFailingForward_LeavesBuffersParametersAndCounterExactlyAsTheyWere()
    {
        var bn = new BatchNorm2d(3);
        bn.Forward(Random(1, 4, 3, 2, 2));
        StateDict before = bn.StateDict();
        nint[][] bad = [[2, 3, 4], [1, 3, 1, 1], [2, 4, 2, 2], [2, 3, 2, 2, 2]];
        foreach (nint[] shape in bad) Assert.Throws<ArgumentException>(() => bn.Forward(Random(2, shape)));
        bn.Eps = 0;
        Assert.Throws<ArgumentException>(() => bn.Forward(Random(3, 4, 3, 2, 2)));
        StateDict after = bn.StateDict();
        Assert.Equal(before.Keys, after.Keys);
        foreach (string key in before.Keys) Assert.Equal(before[key].ToDoubles(), after[key].ToDoubles());
    }
}
