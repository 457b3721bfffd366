namespace NormSharp.Tests.Display;

/// <summary>Layers, parameters, state-dict entries and tensors print their values as PyTorch prints them.</summary>
public class DisplayTests
{
    [Fact]
    public void Layers_PrintAsPyTorchsRepr()
    {
        Assert.Equal("BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)", new BatchNorm2d(64).ToString());
        Assert.Equal("BatchNorm1d(3, eps=0.001, momentum=None, affine=False, track_running_stats=False)",
                     new BatchNorm1d<double>(3, 1e-3, null, false, false).ToString());
        Assert.Equal("InstanceNorm2d(8, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)", new InstanceNorm2d(8).ToString());
        Assert.Equal("LazyBatchNorm3d(0, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)", new LazyBatchNorm3d().ToString());
    }

    [Theory]
    [InlineData(1e-5, "1e-05")]
    [InlineData(0.1, "0.1")]
    [InlineData(1.0, "1.0")]
    [InlineData(100.0, "100.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(1e16, "1e+16")]
    [InlineData(123.456, "123.456")]
    [InlineData(-2.5, "-2.5")]
    public void Floats_PrintAsPythonsRepr(double value, string expected) => Assert.Equal(expected, PythonNumber.Repr(value));

    [Fact]
    public void Tensors_PrintTheirValuesAsPyTorch()
    {
        Assert.Equal("tensor([1.0000, 2.5000, 3.0000])", Tensor.Create(new float[] { 1, 2.5f, 3 }, [3]).ToPyTorchString());
        Assert.Equal("tensor([1., 2., 3.])", Tensor.Create(new float[] { 1, 2, 3 }, [3]).ToPyTorchString());
        Assert.Equal("tensor([[ 1., -2.],\n        [ 3.,  4.]], dtype=torch.float64)", Tensor.Create(new double[] { 1, -2, 3, 4 }, [2, 2]).ToPyTorchString());
        Assert.Equal("tensor([1.0000e-05, 1.0000e+00])", Tensor.Create(new float[] { 1e-5f, 1 }, [2]).ToPyTorchString());
        Assert.Equal("tensor([], size=(0, 3))", Tensor.CreateFromShape<float>([0, 3]).ToPyTorchString());
    }

    [Fact]
    public void LargeTensors_AreSummarizedWithEllipsis_AndLinesStayWithin80Characters()
    {
        string text = Tensor.Create(Enumerable.Range(0, 5000).Select(i => (float)i).ToArray(), [5000]).ToPyTorchString();
        // PyTorch prints torch.arange(5000.) exactly so: six 12-character elements fit after the 7-character indent.
        Assert.Equal("tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.9970e+03, 4.9980e+03,\n        4.9990e+03])", text);
        string small = Tensor.Create(Enumerable.Range(0, 2000).Select(i => (float)(i % 10)).ToArray(), [2000]).ToPyTorchString();
        Assert.Equal("tensor([0., 1., 2.,  ..., 7., 8., 9.])", small);
        string wide = Tensor.Create(Enumerable.Range(0, 40).Select(i => i + 0.5f).ToArray(), [40]).ToPyTorchString();
        Assert.All(wide.Split('\n'), line => Assert.True(line.Length <= 80, line));
        Assert.Contains("39.5000])", wide, StringComparison.Ordinal);
    }

    [Fact]
    public void StateDictEntriesAndParameters_ShowTheirValues()
    {
        var bn = new BatchNorm1d(2);
        StateDict state = bn.StateDict();
        Assert.Equal("tensor([1., 1.])", state["running_var"].ToString());
        Assert.Equal("tensor(0)", state["num_batches_tracked"].ToString());
        Assert.Equal("Parameter containing:\ntensor([1., 1.], requires_grad=True)", bn.Weight!.ToString());
    }

    [Fact]
    public void ChannelsLastHelper_MakesTheLayoutBatchNormReadsWithoutACopy()
    {
        Tensor<float> rowMajor = TestData.Random(1, 2, 3, 4, 5);
        Tensor<float> x = ChannelsLast.From(rowMajor);
        Assert.True(ChannelsLast.Is(x));
        Assert.False(ChannelsLast.Is(rowMajor));
        Assert.Equal(TestData.Values(rowMajor), TestData.Values(x));
        Assert.Equal([60, 1, 15, 3], ChannelsLast.Strides([2, 3, 4, 5]));
        Tensor<float> y = new BatchNorm2d(3).Forward(x);
        Assert.True(ChannelsLast.Is(y));
        Assert.Throws<ArgumentException>(() => ChannelsLast.Create<float>([2, 3]));
    }
}
