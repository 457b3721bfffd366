using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 4: <c>ZeroGrad(setToNone)</c>, PyTorch's <c>Module.zero_grad(set_to_none=True)</c>: None
/// (null) by default since PyTorch 2.0; with <c>set_to_none=False</c> an existing <c>.grad</c> is zeroed in place and a
/// missing one stays None. PyTorch's test: test/test_nn.py <c>test_zero_grad</c>.
/// </summary>
public class ZeroGradTests
{
    [Fact]
    public void ZeroGrad_ByDefault_SetsTheGradientsToNull()
    {
        var bn = new BatchNorm1d(2);
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        bn.Backward(Floats([1, 0, 0, 1], 2, 2));
        bn.ZeroGrad();
        Assert.Null(bn.Weight!.Grad);
        Assert.Null(bn.Bias!.Grad);
    }

    [Fact]
    public void ZeroGrad_NotSetToNone_ZeroesTheSameTensorsInPlace()
    {
        // test_zero_grad: module.zero_grad(set_to_none=False) leaves weight.grad a tensor of zeros.
        var bn = new BatchNorm1d(2);
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        bn.Backward(Floats([1, 0, 0, 1], 2, 2));
        Tensor<float> weightGrad = bn.Weight!.Grad!, biasGrad = bn.Bias!.Grad!;
        Assert.NotEqual([0.0, 0], Values(biasGrad));

        bn.ZeroGrad(setToNone: false);
        Assert.Same(weightGrad, bn.Weight.Grad);
        Assert.Same(biasGrad, bn.Bias.Grad);
        Assert.Equal([0.0, 0], Values(weightGrad));
        Assert.Equal([0.0, 0], Values(biasGrad));

        // The next backward accumulates into them from zero.
        bn.Backward(Floats([1, 0, 0, 1], 2, 2));
        Assert.Same(biasGrad, bn.Bias.Grad);
        Assert.Equal([1.0, 1], Values(biasGrad));
    }

    [Fact]
    public void ZeroGrad_NotSetToNone_LeavesAMissingGradientNull()
    {
        var bn = new BatchNorm1d(2);
        bn.Bias!.Grad = Floats([3, 4], 2);
        bn.ZeroGrad(setToNone: false);
        Assert.Null(bn.Weight!.Grad);
        Assert.Equal([0.0, 0], Values(bn.Bias.Grad!));
        new BatchNorm1d(2, affine: false).ZeroGrad(setToNone: false); // nothing to clear
    }

    [Fact]
    public void ZeroGrad_NotSetToNone_ZeroesAStridedGradientThroughItsView()
    {
        float[] memory = [1, 9, 2, 9];
        var bn = new BatchNorm1d(2);
        bn.Weight!.Grad = Tensor.Create(memory, 0, [2], [2]);
        bn.ZeroGrad(setToNone: false);
        Assert.Equal([0f, 9, 0, 9], memory);
    }
}
