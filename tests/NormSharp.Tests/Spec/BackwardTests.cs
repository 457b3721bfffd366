using NormSharp.Tests.Reference;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>docs/behavior.md section 4: gradients for input, weight and bias.</summary>
public class BackwardTests
{
    private static (double[] Mean, double[] InvStd) BatchStats(Tensor<double> x, double eps = 1e-5)
    {
        var (n, c, s) = Nc(x.Lengths);
        var (mean, varB, _) = NaiveBatchNorm.Statistics(Values(x), n, c, s);
        return (mean, varB.Select(v => 1 / Math.Sqrt(v + eps)).ToArray());
    }

    [Fact]
    public void Backward_Training_MatchesTheBatchStatisticsFormula()
    {
        var bn = new BatchNorm2d<double>(3);
        bn.Weight!.Data[1] = 2.5;
        Tensor<double> x = Random<double>(1, 1, 2, 4, 3, 2, 3);
        Tensor<double> dy = Random<double>(2, 0, 1, 4, 3, 2, 3);
        var (mean, invStd) = BatchStats(x);
        bn.Forward(x);
        double[] dx = Values(bn.Backward(dy));
        var (n, c, s) = Nc(x.Lengths);
        var expected = NaiveBatchNormBackward.Gradients(Values(x), Values(dy), n, c, s, mean, invStd, Values(bn.Weight.Data), true);
        AllClose(expected.Dx, dx, 1e-12);
        AllClose(expected.Dw, Values(bn.Weight.Grad!), 1e-12);
        AllClose(expected.Db, Values(bn.Bias!.Grad!), 1e-12);
    }

    [Fact]
    public void Backward_EvalWithRunningStatistics_IsDyTimesWeightTimesRunningInvStd()
    {
        var bn = new BatchNorm1d<double>(2);
        bn.RunningMean![0] = 1.5;
        bn.RunningVar![1] = 4.0;
        bn.Weight!.Data[0] = -3;
        bn.Eval();
        Tensor<double> x = Random<double>(3, 0, 1, 5, 2);
        Tensor<double> dy = Random<double>(4, 0, 1, 5, 2);
        bn.Forward(x);
        double[] dx = Values(bn.Backward(dy));
        double[] invStd = [1 / Math.Sqrt(1 + 1e-5), 1 / Math.Sqrt(4 + 1e-5)];
        var expected = NaiveBatchNormBackward.Gradients(Values(x), Values(dy), 5, 2, 1, [1.5, 0], invStd, [-3, 1], false);
        AllClose(expected.Dx, dx, 1e-12);
        AllClose(expected.Dw, Values(bn.Weight.Grad!), 1e-12);
        AllClose(expected.Db, Values(bn.Bias!.Grad!), 1e-12);
    }

    [Fact]
    public void Backward_EvalWithoutBuffers_UsesTheBatchStatisticsFormula()
    {
        var bn = new BatchNorm1d<double>(2, trackRunningStats: false);
        bn.Eval();
        Tensor<double> x = Random<double>(5, 0, 1, 6, 2, 3);
        Tensor<double> dy = Random<double>(6, 0, 1, 6, 2, 3);
        var (mean, invStd) = BatchStats(x);
        bn.Forward(x);
        var expected = NaiveBatchNormBackward.Gradients(Values(x), Values(dy), 6, 2, 3, mean, invStd, null, true);
        AllClose(expected.Dx, Values(bn.Backward(dy)), 1e-12);
    }

    [Fact]
    public void Backward_WithoutAffine_ReturnsInputGradientAndHasNoParameterGradients()
    {
        var bn = new BatchNorm1d<double>(2, affine: false);
        Tensor<double> x = Random<double>(7, 0, 1, 4, 2);
        bn.Forward(x);
        var (mean, invStd) = BatchStats(x);
        Tensor<double> dy = Random<double>(8, 0, 1, 4, 2);
        var expected = NaiveBatchNormBackward.Gradients(Values(x), Values(dy), 4, 2, 1, mean, invStd, null, true);
        AllClose(expected.Dx, Values(bn.Backward(dy)), 1e-12);
        Assert.Null(bn.Weight);
    }

    [Fact]
    public void Backward_CalledTwice_AccumulatesParameterGradientsUntilZeroGrad()
    {
        var bn = new BatchNorm1d<double>(2);
        Tensor<double> x = Random<double>(9, 0, 1, 4, 2);
        Tensor<double> dy = Random<double>(10, 0, 1, 4, 2);
        bn.Forward(x);
        bn.Backward(dy);
        double[] once = Values(bn.Bias!.Grad!);
        bn.Backward(dy);
        AllClose(once.Select(v => 2 * v).ToArray(), Values(bn.Bias.Grad!), 1e-12);
        bn.ZeroGrad();
        Assert.Null(bn.Bias.Grad);
        bn.Backward(dy);
        AllClose(once, Values(bn.Bias.Grad!), 1e-12);
    }

    [Fact]
    public void Backward_ParameterWithRequiresGradFalse_GetsNoGradient()
    {
        var bn = new BatchNorm1d(2);
        bn.Weight!.RequiresGrad = false;
        bn.Forward(Random(1, 4, 2));
        bn.Backward(Random(2, 4, 2));
        Assert.Null(bn.Weight.Grad);
        Assert.NotNull(bn.Bias!.Grad);
    }

    [Fact]
    public void Backward_UsesTheWeightOfItsForward_NotOneChangedLater()
    {
        var bn = new BatchNorm1d<double>(1);
        Tensor<double> x = Random<double>(3, 0, 1, 4, 1);
        Tensor<double> dy = Random<double>(4, 0, 1, 4, 1);
        bn.Forward(x);
        double[] expected = Values(bn.Backward(dy));
        bn.Weight!.Data[0] = 10;
        AllClose(expected, Values(bn.Backward(dy)), 1e-15);
    }

    [Fact]
    public void Backward_WithoutForward_ThrowsInvalidOperation()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new BatchNorm1d(2).Backward(Random(1, 4, 2)));
        Assert.Contains("needs a successful Forward first", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backward_GradientOfAnotherShape_ThrowsArgument()
    {
        var bn = new BatchNorm1d(2);
        bn.Forward(Random(1, 4, 2));
        var e = Assert.Throws<ArgumentException>(() => bn.Backward(Random(2, 5, 2)));
        Assert.StartsWith("gradOutput has shape [5, 2] but the last Forward's input had shape [4, 2]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backward_EmptyBatch_GivesEmptyInputGradientAndZeroParameterGradients()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Tensor.CreateFromShape<float>([0, 3]));
        Tensor<float> dx = bn.Backward(Tensor.CreateFromShape<float>([0, 3]));
        Assert.Equal(0, dx.FlattenedLength);
        Assert.Equal([0.0, 0, 0], Values(bn.Weight!.Grad!));
        Assert.Equal([0.0, 0, 0], Values(bn.Bias!.Grad!));
    }

    [Fact]
    public void Functional_NativeThenBackward_MatchesTheModule()
    {
        Tensor<double> x = Random<double>(11, 0, 2, 3, 2, 5);
        Tensor<double> dy = Random<double>(12, 0, 1, 3, 2, 5);
        Tensor<double> w = Tensor.Create(new[] { 0.5, 2.0 }, [2]);
        BatchNormResult<double> forward = Functional.NativeBatchNorm(x, w, null, null, null, training: true, momentum: 0.1, eps: 1e-5);
        BatchNormGradients<double> grads = Functional.BatchNormBackward(dy, x, w, null, null, forward.SaveMean, forward.SaveInvStd, training: true, eps: 1e-5);

        var bn = new BatchNorm1d<double>(2, trackRunningStats: false);
        w.FlattenTo(bn.Weight!.Data.GetSpan([0], 2));
        bn.Forward(x);
        AllClose(Values(bn.Backward(dy)), Values(grads.Input!), 1e-15);
        AllClose(Values(bn.Weight.Grad!), Values(grads.Weight!), 1e-15);
        AllClose(Values(bn.Bias!.Grad!), Values(grads.Bias!), 1e-15);
    }

    [Fact]
    public void Functional_NativeBatchNormInEval_SavesEmptyStatistics_BackwardUsesRunningOnes()
    {
        Tensor<double> x = Random<double>(13, 0, 1, 4, 2);
        Tensor<double> rm = Tensor.Create(new[] { 1.0, -1.0 }, [2]), rv = Tensor.Create(new[] { 4.0, 0.25 }, [2]);
        BatchNormResult<double> forward = Functional.NativeBatchNorm(x, null, null, rm, rv, training: false, momentum: 0.1, eps: 1e-5);
        Assert.Equal(0, forward.SaveMean.FlattenedLength);
        Tensor<double> dy = Random<double>(14, 0, 1, 4, 2);
        BatchNormGradients<double> grads = Functional.BatchNormBackward(dy, x, null, rm, rv, null, null, training: false, eps: 1e-5,
                                                                         weightGradient: false, biasGradient: false);
        double[] dyv = Values(dy);
        AllClose(dyv.Select((g, k) => g / Math.Sqrt((k % 2 == 0 ? 4.0 : 0.25) + 1e-5)).ToArray(), Values(grads.Input!), 1e-15);
        Assert.Null(grads.Weight);
        Assert.Null(grads.Bias);
    }

    [Fact]
    public void Functional_BackwardInTrainingWithoutSavedStatistics_Throws()
    {
        Tensor<float> x = Random(1, 4, 2);
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNormBackward(x, x, null, null, null, null, null, training: true, eps: 1e-5));
        Assert.Equal("save_mean must be defined when training.", e.Message);
    }
}
