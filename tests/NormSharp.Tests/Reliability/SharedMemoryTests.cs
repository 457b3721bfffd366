using System.Buffers;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Reliability;

/// <summary>Tensors a call writes never share memory with another argument, except the documented in-place forward.</summary>
public class SharedMemoryTests
{
    private static Tensor<float> Shifted(float[] backing, int start, nint[] shape) => Tensor.Create(backing, start, shape, RowMajorStrides(shape));

    private static nint[] RowMajorStrides(nint[] shape)
    {
        var strides = new nint[shape.Length];
        nint stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = shape[d] == 1 ? 0 : stride; stride *= shape[d]; }
        return strides;
    }

    [Fact]
    public void FunctionalDestination_OverlappingTheInputShiftedByOne_IsRefused_AndChangesNothing()
    {
        float[] backing = Enumerable.Range(0, 13).Select(i => (float)i * i).ToArray();
        Tensor<float> x = Shifted(backing, 0, [4, 3]), destination = Shifted(backing, 1, [4, 3]);
        var runningMean = Tensor.Create(new float[] { 0, 0, 0 }, [3]);
        float[] before = (float[])backing.Clone();
        var error = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(x, runningMean, null, null, null, true, 0.1, 1e-5, destination));
        Assert.Contains("destination overlaps input", error.Message);
        Assert.Equal(before, backing);
        Assert.Equal([0.0, 0, 0], Values(runningMean));
    }

    [Fact]
    public void FunctionalDestination_ThatIsTheInputItself_NormalizesInPlace()
    {
        Tensor<float> x = Random(3, 6, 4, 5), expected = Functional.BatchNorm(x, null, null, null, null, training: true);
        Functional.BatchNorm(x, null, null, null, null, true, 0.1, 1e-5, x);
        Assert.Equal(Values(expected), Values(x));

        Tensor<float> planes = Random(4, 2, 3, 7), expectedPlanes = Functional.InstanceNorm(planes);
        Functional.InstanceNorm(planes, null, null, null, null, true, 0.1, 1e-5, planes);
        Assert.Equal(Values(expectedPlanes), Values(planes));
    }

    [Fact]
    public void RunningMeanAndRunningVar_OverlappingEachOther_AreRefused()
    {
        var backing = new float[] { 0, 0, 1, 1 };
        Tensor<float> mean = Tensor.Create(backing, 0, [3], [1]), variance = Tensor.Create(backing, 1, [3], [1]);
        var error = Assert.Throws<ArgumentException>(() => Functional.BatchNorm(Random(1, 4, 3), mean, variance, null, null, training: true));
        Assert.Contains("running_mean shares memory with running_var", error.Message);
        Assert.Equal([0f, 0, 1, 1], backing);
    }

    [Fact]
    public void RunningMeanAndRunningVar_AsDisjointSlicesOfOneArray_AreEachUpdated()
    {
        var backing = new float[] { -1, 0, 0, 0, -1, 1, 1, 1, -1 };
        Tensor<float> mean = Tensor.Create(backing, 1, [3], [1]), variance = Tensor.Create(backing, 5, [3], [1]);
        var x = Tensor.Create(new float[] { 1, 2, 3, 3, 6, 9 }, [2, 3]);
        Functional.BatchNorm(x, mean, variance, null, null, training: true, momentum: 1.0);
        Assert.Equal([-1f, 2, 4, 6, -1, 2, 8, 18, -1], backing);
    }

    [Fact]
    public void ModuleForward_IntoItsOwnInput_IsRefused_AndTheNextBackwardIsUnaffected()
    {
        var bn = new BatchNorm1d(3);
        Tensor<float> first = Random(1, 5, 3), dy = Random(2, 5, 3);
        bn.Forward(first);
        float[] expectedDx = Values(new BatchNorm1d(3).Let(twin => twin.Forward(first)).Backward(dy)).Select(v => (float)v).ToArray();

        Tensor<float> x = Random(3, 5, 3);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(x, x));
        Assert.Contains("destination", error.Message);
        Assert.Equal(1L, bn.NumBatchesTracked);
        Assert.Equal(expectedDx, Values(bn.Backward(dy)).Select(v => (float)v).ToArray());
    }

    [Fact]
    public void ModuleForward_IntoItsOwnRunningMean_IsRefused_AndTheBufferKeepsItsValues()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 4, 3));
        bn.Eval();
        double[] before = Values(bn.RunningMean!);
        Tensor<float> intoBuffer = bn.RunningMean!.Reshape([1, 3]);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(Random(2, 1, 3), intoBuffer));
        Assert.Contains("destination shares memory with running_mean", error.Message);
        Assert.Equal(before, Values(bn.RunningMean!));
    }

    [Fact]
    public void BackwardDestination_OverlappingDy_IsRefused_AndAddsNoGradient()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 4, 3));
        Tensor<float> dy = Random(2, 4, 3);
        Assert.Throws<ArgumentException>(() => bn.Backward(dy, dy));
        Assert.Null(bn.Weight!.Grad);
        Assert.Null(bn.Bias!.Grad);
    }

    [Fact]
    public void BackwardDestination_InsideTheRunningVariance_IsRefused_AndTheBufferKeepsItsValues()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 4, 3));
        bn.Eval();
        Tensor<float> x = Random(3, 1, 3);
        bn.Forward(x);
        double[] before = Values(bn.RunningVar!);
        var error = Assert.Throws<ArgumentException>(() => bn.Backward(Random(2, 1, 3), bn.RunningVar!.Reshape([1, 3])));
        Assert.Contains("destination shares memory with running_var", error.Message);
        Assert.Equal(before, Values(bn.RunningVar!));
    }

    [Fact]
    public void WeightGradAndBiasGrad_BeingOneTensor_IsRefused()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 4, 3));
        Tensor<float> shared = Tensor.CreateFromShape<float>([3]);
        bn.Weight!.Grad = shared;
        bn.Bias!.Grad = shared;
        Assert.Throws<InvalidOperationException>(() => bn.Backward(Random(2, 4, 3)));
        Assert.Equal([0.0, 0, 0], Values(shared));
    }

    [Fact]
    public void SlicedTensors_AsDestinationAndDy_AreAddressedAtTheirOffset()
    {
        float[] xValues = [100, 200, 300, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        Tensor<float> full = Tensor.Create(xValues, [4, 3]);
        Tensor<float> view = full.Slice(new NRange[] { 1..4, 0..3 });
        Tensor<float> dense = Tensor.Create(xValues[3..], [3, 3]);
        var output = new float[15];
        Array.Fill(output, -5f);
        Tensor<float> destination = Tensor.Create(output, [5, 3]).Slice(new NRange[] { 2..5, 0..3 });
        new BatchNorm1d(3).Forward(view, destination);
        Assert.Equal(Values(new BatchNorm1d(3).Forward(dense)), Values(destination));
        Assert.All(output[..6], v => Assert.Equal(-5f, v));
    }
}

internal static class LetExtension
{
    public static T Let<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }
}
