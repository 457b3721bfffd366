using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Reliability;

/// <summary>Parameter gradients: PyTorch's shape rule on assignment, accumulation through any strides.</summary>
public class GradientTensorTests
{
    [Fact]
    public void AssigningAGradOfAnotherShape_Throws_AndKeepsTheGradient()
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> kept = Tensor.CreateFromShape<float>([3]);
        bn.Weight!.Grad = kept;
        var error = Assert.Throws<ArgumentException>(() => bn.Weight.Grad = Tensor.CreateFromShape<float>([2]));
        Assert.Contains("assigned grad has data of a different size", error.Message);
        Assert.Same(kept, bn.Weight.Grad);
    }

    [Fact]
    public void GradientsAccumulate_IntoAStridedGradTensor()
    {
        Tensor<float> x = Random(1, 6, 3), dy = Random(2, 6, 3);
        var reference = new BatchNorm1d(3);
        reference.Forward(x);
        reference.Backward(dy);

        var bn = new BatchNorm1d(3);
        var backing = new float[9];
        bn.Weight!.Grad = Tensor.Create(backing, 1, [3], [3]);
        bn.Forward(x);
        bn.Backward(dy);
        Assert.Equal(Values(reference.Weight!.Grad!), Values(bn.Weight.Grad!));
        Assert.Equal(0f, backing[0]);
        Assert.Equal(0f, backing[2]);
    }
}
