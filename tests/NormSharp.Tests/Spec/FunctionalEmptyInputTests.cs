using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 5: an empty input to the functional ops, the 1-D shape [0] included. Ported from PyTorch's
/// OpInfo samples for nn.functional.batch_norm (torch/testing/_internal/common_methods_invocations.py,
/// <c>sample_inputs_batch_norm</c>: input (0,) with running_mean and running_var of shape (0,), training True and False),
/// with what PyTorch 1.13 and libtorch 2.10 do around it: <c>_batch_norm_impl_index</c> returns <c>input.clone()</c> (times
/// <c>weight[0]</c>, plus <c>bias[0]</c>) before any length check, so only Python's checks and that indexing still apply.
/// </summary>
public class FunctionalEmptyInputTests
{
    private static Tensor<float> EmptyVector() => Tensor.CreateFromShape<float>([0]);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNorm_EmptyVector_ReturnsAnEmptyVector_InTrainingAndEvaluation(bool training)
    {
        // The OpInfo sample: running statistics of shape (0,), no weight or bias.
        Tensor<float> y = Functional.BatchNorm(EmptyVector(), EmptyVector(), EmptyVector(), null, null, training);
        Assert.Equal([0], y.Lengths.ToArray());
        Assert.Equal([0], Functional.BatchNorm(EmptyVector(), null, null, null, null, training).Lengths.ToArray());
        Assert.Equal([0], Functional.BatchNorm<double>(Tensor.CreateFromShape<double>([0]), null, null, null, null, training).Lengths.ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNorm_EmptyVector_SkipsTheLengthChecks_AndLeavesRunningStatisticsUntouched(bool training)
    {
        // libtorch 2.10 (observed through TorchSharp): running statistics of 3 elements, weight and bias of 3: no check, no change.
        Tensor<float> rm = Floats([1, 2, 3], 3), rv = Floats([4, 5, 6], 3);
        Tensor<float> y = Functional.BatchNorm(EmptyVector(), rm, rv, Floats([2, 2, 2], 3), Floats([1, 1, 1], 3), training, momentum: 0.5);
        Assert.Equal(0, y.FlattenedLength);
        Assert.Equal([1.0, 2, 3], Values(rm));
        Assert.Equal([4.0, 5, 6], Values(rv));
    }

    [Fact]
    public void BatchNorm_EmptyVector_StillRunsPythonsEpsCheck()
    {
        // F.batch_norm (PyTorch 2.10+) validates eps before calling torch.batch_norm, whatever the input.
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(EmptyVector(), null, null, null, null, training: true, eps: 0));
        Assert.Equal("batch_norm eps must be positive during training, but got 0.0", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(EmptyVector(), null, null, null, null, training: false, eps: -1));
        Assert.Equal("batch_norm eps must be non-negative, but got -1.0", e.Message);
    }

    [Theory]
    [InlineData(new int[] { 0 })]
    [InlineData(new int[] { 0, 0 })]
    [InlineData(new int[] { 0, 3 })]
    [InlineData(new int[] { 2, 0, 3 })]
    public void BatchNorm_EmptyInput_WithAWeightOrBiasOfLengthZero_FailsWhereATenIndexesIt(int[] shape)
    {
        // PyTorch 1.13 and libtorch 2.10: weight[0] / bias[0] of an empty tensor.
        Tensor<float> x = Tensor.CreateFromShape<float>(shape.Select(l => (nint)l).ToArray());
        foreach (bool training in new[] { true, false })
        {
            Tensor<float>? rm = training ? null : Tensor.CreateFromShape<float>([0]), rv = training ? null : Tensor.CreateFromShape<float>([0]);
            var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, rm, rv, EmptyVector(), null, training));
            Assert.Equal("select(): index 0 out of range for tensor of size [0] at dimension 0", e.Message);
            e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, rm, rv, null, EmptyVector(), training));
            Assert.Equal("select(): index 0 out of range for tensor of size [0] at dimension 0", e.Message);
        }
    }

    [Fact]
    public void BatchNorm_EmptyVector_IntoADestination_OrInPlace()
    {
        Tensor<float> x = EmptyVector();
        Functional.BatchNorm(x, null, null, null, null, training: true, momentum: 0.1, eps: 1e-5, destination: Tensor.CreateFromShape<float>([0]));
        Functional.BatchNorm(x, null, null, null, null, training: true, momentum: 0.1, eps: 1e-5, destination: x);
        var e = Assert.Throws<ArgumentException>(() =>
            Functional.BatchNorm(x, null, null, null, null, training: true, momentum: 0.1, eps: 1e-5, destination: Tensor.CreateFromShape<float>([0, 1])));
        Assert.StartsWith("destination must have the input's shape [0]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BatchNorm_NonEmptyVector_IsStillRefused()
    {
        // PyTorch reads the input's size at dim 1 of a 1-D tensor (out of range: an index error or garbage); NormSharp refuses.
        var e = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(Floats([1, 2, 3], 3), null, null, null, null, training: true));
        Assert.Equal("batch_norm expects an input with at least 2 dimensions (N, C, ...) (got 1D input)", e.Message);
    }

    [Fact]
    public void InstanceNorm_ZeroChannels_WithWeightOrBias_FailsAsLibtorch()
    {
        // instance_norm repeats the (C) parameters N times: with C = 0 they are empty too, and batch_norm indexes them.
        Tensor<float> x = Tensor.CreateFromShape<float>([2, 0, 3]);
        var e = Assert.Throws<ArgumentException>(() => Functional.InstanceNorm(x, weight: EmptyVector()));
        Assert.Equal("select(): index 0 out of range for tensor of size [0] at dimension 0", e.Message);
        Assert.Equal(0, Functional.InstanceNorm(x, EmptyVector(), EmptyVector()).FlattenedLength);
    }
}
