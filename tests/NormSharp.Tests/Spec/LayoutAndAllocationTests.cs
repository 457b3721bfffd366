using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>Layouts (channels-last in, channels-last out, as PyTorch), caller-owned outputs, and steady-state allocation.</summary>
public class LayoutAndAllocationTests
{
    private static Tensor<float> ChannelsLast(Tensor<float> rowMajor)
    {
        ReadOnlySpan<nint> l = rowMajor.Lengths;
        int n = (int)l[0], c = (int)l[1];
        int s = (int)(rowMajor.FlattenedLength / (n * c));
        double[] values = Values(rowMajor);
        var stored = new float[values.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++) stored[(i * s + j) * c + ch] = (float)values[(i * c + ch) * s + j];
        return Tensor.Create(stored, l, NormLayout.ChannelsLastStrides(l));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ChannelsLastInput_GivesAChannelsLastOutputWithTheContiguousValues(bool training)
    {
        foreach (nint[] shape in new nint[][] { [4, 8, 5, 6], [2, 3, 3, 4, 5] })
        {
            Tensor<float> x = Random(1, shape), dy = Random(2, shape);
            BatchNorm<float> a = shape.Length == 4 ? new BatchNorm2d(8) : new BatchNorm3d(3);
            BatchNorm<float> b = shape.Length == 4 ? new BatchNorm2d(8) : new BatchNorm3d(3);
            a.Train(training);
            b.Train(training);
            Tensor<float> expected = a.Forward(x);
            Tensor<float> actual = b.Forward(ChannelsLast(x));
            Assert.Equal(ChannelsLast(x).Strides.ToArray(), actual.Strides.ToArray());
            AllClose(Values(expected), Values(actual), 1e-5);
            AllClose(Values(a.RunningVar!), Values(b.RunningVar!), 1e-6);
            AllClose(Values(a.Backward(dy)), Values(b.Backward(ChannelsLast(dy))), 1e-5);
            AllClose(Values(a.Weight!.Grad!), Values(b.Weight!.Grad!), 1e-4);
        }
    }

    [Fact]
    public void ForwardIntoDestination_WritesWhatTheAllocatingForwardReturns()
    {
        Tensor<float> x = Random(3, 6, 4, 7);
        Tensor<float> expected = new BatchNorm1d(4).Forward(x);
        var destination = Tensor.CreateFromShape<float>([6, 4, 7]);
        var bn = new BatchNorm1d(4);
        bn.Forward(x, destination);
        Assert.Equal(Values(expected), Values(destination));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void ForwardIntoDestination_WrongShapeOrLayout_ThrowsAndChangesNothing()
    {
        var bn = new BatchNorm2d(3);
        Tensor<float> x = Random(4, 2, 3, 4, 4);
        Assert.Throws<ArgumentException>(() => bn.Forward(x, Tensor.CreateFromShape<float>([2, 3, 4, 5])));
        Assert.Throws<ArgumentException>(() => bn.Forward(x, ChannelsLast(Tensor.CreateFromShape<float>([2, 3, 4, 4]))));
        Assert.Equal(0L, bn.NumBatchesTracked);
        Assert.Equal([0.0, 0, 0], Values(bn.RunningMean!));
    }

    [Fact]
    public void SteadyState_ForwardAndBackwardIntoDestinations_AllocateNothing()
    {
        int original = NormSharpOptions.MaxDegreeOfParallelism;
        try
        {
            NormSharpOptions.MaxDegreeOfParallelism = 1;
            Tensor<float> x = Random(5, 8, 16, 12, 12), dy = Random(6, 8, 16, 12, 12);
            Tensor<float> y = Tensor.CreateFromShape<float>(x.Lengths), dx = Tensor.CreateFromShape<float>(x.Lengths);
            foreach (NormBase<float> layer in new NormBase<float>[] { new BatchNorm2d(16), new InstanceNorm2d(16, affine: true, trackRunningStats: true) })
            {
                for (int warm = 0; warm < 3; warm++) { layer.Forward(x, y); layer.Backward(dy, dx); }

                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) { layer.Forward(x, y); layer.Backward(dy, dx); }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated == 0, $"{layer.ModuleName}: {allocated} bytes");
            }
        }
        finally
        {
            NormSharpOptions.MaxDegreeOfParallelism = original;
        }
    }
}
