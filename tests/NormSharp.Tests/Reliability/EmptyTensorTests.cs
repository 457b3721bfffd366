namespace NormSharp.Tests.Reliability;

/// <summary>Empty tensors address no memory: whatever strides System.Numerics.Tensors gives them, they are accepted as
/// inputs, destinations and buffers wherever a non-empty tensor of that shape would be.</summary>
public class EmptyTensorTests
{
    [Fact]
    public void EmptyDestinations_AreAccepted_ForModulesAndFunctional()
    {
        Tensor<float> x = Tensor.CreateFromShape<float>([0, 4]);
        var bn = new BatchNorm1d(4);
        bn.Forward(x, Tensor.CreateFromShape<float>([0, 4]));
        bn.Backward(x, Tensor.CreateFromShape<float>([0, 4]));
        Functional.BatchNorm(x, null, null, null, null, true, 0.1, 1e-5, x);

        Tensor<float> planes = Tensor.CreateFromShape<float>([0, 2, 3]);
        Functional.InstanceNorm(planes, null, null, null, null, true, 0.1, 1e-5, planes);
        var norm = new InstanceNorm1d(2);
        norm.Forward(planes, Tensor.CreateFromShape<float>([0, 2, 3]));
        norm.Backward(planes, Tensor.CreateFromShape<float>([0, 2, 3]));
        new BatchNorm1d(3).Forward(Tensor.CreateFromShape<float>([2, 3, 0]), Tensor.CreateFromShape<float>([2, 3, 0]));
    }

    [Fact]
    public void LayersWithZeroChannels_AcceptAnInputWithZeroChannels_UnlessTheyHaveWeightOrBias()
    {
        // PyTorch 1.13 and libtorch 2.10: ATen's empty-input path reads weight[0] and bias[0], which fails for C = 0.
        Tensor<float> x = Tensor.CreateFromShape<float>([2, 0, 3]);
        Assert.Equal(0, new BatchNorm1d(0, affine: false).Forward(x).FlattenedLength);
        Assert.Equal(0, new BatchNorm1d(0, affine: false, trackRunningStats: false).Forward(x).FlattenedLength);
        Assert.Equal(0, new LazyBatchNorm1d(affine: false).Forward(x).FlattenedLength);
        Assert.Equal(0, new InstanceNorm1d(0, trackRunningStats: true).Forward(x).FlattenedLength);
        Assert.Equal(0, Functional.BatchNorm(x, Tensor.CreateFromShape<float>([0]), Tensor.CreateFromShape<float>([0]), null, null, true).FlattenedLength);

        const string select = "select(): index 0 out of range for tensor of size [0] at dimension 0";
        Assert.Equal(select, Assert.Throws<ArgumentException>(() => new BatchNorm1d(0).Forward(x)).Message);
        Assert.Equal(select, Assert.Throws<ArgumentException>(() => new BatchNorm1d(0, trackRunningStats: false).Forward(x)).Message);
        Assert.Equal(select, Assert.Throws<ArgumentException>(() => new InstanceNorm1d(0, affine: true).Forward(x)).Message);
        var lazy = new LazyBatchNorm1d();
        Assert.Equal(select, Assert.Throws<ArgumentException>(() => lazy.Forward(x)).Message);
        Assert.True(lazy.HasUninitializedParameters); // a failed first forward initializes nothing
    }
}
