using NormSharp.Tests.Reference;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// docs/behavior.md section 4: <c>Functional.InstanceNormBackward</c>, the gradients libtorch's autograd gives for
/// <c>F.instance_norm</c> (<c>native_batch_norm_backward</c> over the (1, N·C, *) view, the repeated weight's gradient summed
/// over the samples). PyTorch tests it through gradcheck on the InstanceNorm ModuleInfos (test/test_modules.py
/// <c>test_grad</c>); here it is compared with the layer's <c>Backward</c> (bit for bit) and with the formulas written out.
/// </summary>
public class InstanceNormBackwardTests
{
    public static TheoryData<int[], bool, bool> Cases() => new()
    {
        { [3, 2, 5], true, true },
        { [3, 2, 5], false, true },
        { [2, 3, 4, 3], true, false },
        { [2, 3, 4, 3], false, false },
        { [2, 2, 2, 3, 2], true, true },
        { [1, 4, 2, 2, 3], false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void InstanceNormBackward_IsTheLayersBackward_BitForBit(int[] shape, bool useInputStats, bool affine)
    {
        nint[] lengths = shape.Select(l => (nint)l).ToArray();
        int channels = shape[1];
        NormBase<double> layer = shape.Length switch
        {
            3 => new InstanceNorm1d<double>(channels, eps: 1e-3, affine: affine, trackRunningStats: !useInputStats),
            4 => new InstanceNorm2d<double>(channels, eps: 1e-3, affine: affine, trackRunningStats: !useInputStats),
            _ => new InstanceNorm3d<double>(channels, eps: 1e-3, affine: affine, trackRunningStats: !useInputStats),
        };
        if (affine) for (int c = 0; c < channels; c++) layer.Weight!.Data[c] = 0.5 + c;
        if (!useInputStats)
        {
            layer.Eval();
            for (int c = 0; c < channels; c++) (layer.RunningMean![c], layer.RunningVar![c]) = (0.1 * c, 1.5 + c);
        }

        Tensor<double> x = Random<double>(shape.Sum(), 2, 3, lengths), dy = Random<double>(shape.Sum() + 1, 0, 1, lengths);
        layer.Forward(x);
        Tensor<double> dx = layer.Backward(dy);

        BatchNormGradients<double> g = Functional.InstanceNormBackward(dy, x, layer.Weight?.Data, layer.RunningMean, layer.RunningVar,
                                                                       useInputStats, eps: 1e-3);
        Assert.Equal(Values(dx), Values(g.Input!));
        Assert.Equal(lengths, g.Input!.Lengths.ToArray());
        if (affine)
        {
            Assert.Equal(Values(layer.Weight!.Grad!), Values(g.Weight!));
            Assert.Equal(Values(layer.Bias!.Grad!), Values(g.Bias!));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InstanceNormBackward_FollowsTheFormulasPerPlane_AndSumsTheParameterGradientsOverTheSamples(int[] shape, bool useInputStats, bool affine)
    {
        nint[] lengths = shape.Select(l => (nint)l).ToArray();
        var (n, c, s) = Nc(lengths);
        double[] weight = Enumerable.Range(0, c).Select(i => 1.5 - 0.5 * i).ToArray(), rm = Enumerable.Range(0, c).Select(i => 0.2 * i).ToArray();
        double[] rv = Enumerable.Range(0, c).Select(i => 0.5 + i).ToArray();
        Tensor<double> x = Random<double>(7, -1, 2, lengths), dy = Random<double>(8, 0, 1, lengths);
        double[] xs = Values(x);

        // Per (sample, channel) plane: its mean and invStd (input statistics) or the running ones; weight repeated N times.
        var mean = new double[n * c];
        var invStd = new double[n * c];
        for (int g = 0; g < n * c; g++)
        {
            double[] plane = xs.Skip(g * s).Take(s).ToArray();
            double m = plane.Average();
            mean[g] = useInputStats ? m : rm[g % c];
            invStd[g] = 1 / Math.Sqrt((useInputStats ? plane.Select(v => (v - m) * (v - m)).Average() : rv[g % c]) + 1e-5);
        }

        double[]? repeated = affine ? Enumerable.Range(0, n * c).Select(g => weight[g % c]).ToArray() : null;
        var (dx, dwPlanes, dbPlanes) = NaiveBatchNormBackward.Gradients(xs, Values(dy), 1, n * c, s, mean, invStd, repeated, useInputStats);

        BatchNormGradients<double> result = Functional.InstanceNormBackward(dy, x, affine ? Tensor.Create(weight, [c]) : null,
                                                                            Tensor.Create(rm, [c]), Tensor.Create(rv, [c]), useInputStats, eps: 1e-5);
        AllClose(dx, Values(result.Input!), 1e-12, 1e-10);
        AllClose(Enumerable.Range(0, c).Select(ch => Enumerable.Range(0, n).Sum(i => dwPlanes[i * c + ch])).ToArray(), Values(result.Weight!), 1e-12, 1e-10);
        AllClose(Enumerable.Range(0, c).Select(ch => Enumerable.Range(0, n).Sum(i => dbPlanes[i * c + ch])).ToArray(), Values(result.Bias!), 1e-12, 1e-10);
    }

    [Fact]
    public void InstanceNormBackward_ComputesOnlyWhatIsAsked()
    {
        Tensor<float> x = Random(1, 2, 3, 4), dy = Random(2, 2, 3, 4);
        BatchNormGradients<float> g = Functional.InstanceNormBackward(dy, x, null, null, null, useInputStats: true, eps: 1e-5,
                                                                      inputGradient: false, weightGradient: true, biasGradient: false);
        Assert.Null(g.Input);
        Assert.NotNull(g.Weight);
        Assert.Null(g.Bias);
        Assert.Equal([3], g.Weight!.Lengths.ToArray());
    }

    [Fact]
    public void InstanceNormBackward_StridedGradientAndParameters_GiveTheDenseResult()
    {
        Tensor<float> x = Random(3, 2, 3, 5), dy = Random(4, 2, 3, 5);
        var memory = new float[7];
        Tensor<float> weight = Tensor.Create(memory, 0, [3], [3]);
        (weight[0], weight[1], weight[2]) = (2f, -1f, 0.5f);
        var padded = new float[2 * 30];
        Tensor<float> stridedDy = Tensor.Create(padded, 0, [2, 3, 5], [30, 10, 2]);
        dy.CopyTo(stridedDy);

        BatchNormGradients<float> strided = Functional.InstanceNormBackward(stridedDy, x, weight, null, null, useInputStats: true, eps: 1e-5);
        BatchNormGradients<float> dense = Functional.InstanceNormBackward(dy, x, Floats([2, -1, 0.5f], 3), null, null, useInputStats: true, eps: 1e-5);
        Assert.Equal(Values(dense.Input!), Values(strided.Input!));
        Assert.Equal(Values(dense.Weight!), Values(strided.Weight!));
    }

    [Fact]
    public void InstanceNormBackward_EmptyBatch_GivesEmptyDxAndZeroParameterGradients()
    {
        Tensor<float> empty = Tensor.CreateFromShape<float>([0, 3, 4]);
        BatchNormGradients<float> g = Functional.InstanceNormBackward(empty, empty, null, null, null, useInputStats: true, eps: 1e-5);
        Assert.Equal(0, g.Input!.FlattenedLength);
        Assert.Equal([0.0, 0, 0], Values(g.Weight!));
        Assert.Equal([0.0, 0, 0], Values(g.Bias!));
    }

    [Fact]
    public void InstanceNormBackward_ChecksAsTheForwardDoes()
    {
        Tensor<float> x = Random(1, 2, 3, 4);
        var e = Assert.Throws<ArgumentException>(() => Functional.InstanceNormBackward(Random(2, 2, 3, 5), x, null, null, null, true, 1e-5));
        Assert.Equal("gradOutput has shape [2, 3, 5] but the input has shape [2, 3, 4].", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.InstanceNormBackward(x, x, null, null, null, useInputStats: false, eps: 1e-5));
        Assert.Equal("Expected running_mean and running_var to be defined when use_input_stats is false", e.Message);
        Tensor<float> single = Random(3, 2, 3, 1);
        e = Assert.Throws<ArgumentException>(() => Functional.InstanceNormBackward(single, single, null, null, null, useInputStats: true, eps: 1e-5));
        Assert.Equal("Expected more than 1 spatial element when training, got input size [2, 3, 1]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.InstanceNormBackward(x, x, Floats([1, 1], 2), null, null, useInputStats: true, eps: 1e-5));
        Assert.Equal("weight should contain 6 elements not 4", e.Message);
    }
}
