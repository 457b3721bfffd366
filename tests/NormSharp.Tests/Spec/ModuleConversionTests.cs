using System.Numerics;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// <c>ToDouble()</c> / <c>ToFloat()</c>, PyTorch's <c>module.double()</c> / <c>module.float()</c> (<c>Module._apply</c>:
/// floating parameters, their gradients and floating buffers converted, the int64 counter kept, everything else untouched).
/// PyTorch's tests: test/test_nn.py <c>test_type</c> (a module's parameters and buffers follow <c>.double()</c> /
/// <c>.float()</c>) and test/test_modules.py <c>test_to</c> / <c>test_factory_kwargs</c> (ModuleInfo dtypes);
/// test_lazy_modules.py <c>test_materialize_dtype</c> (a lazy module converted before initialization materializes in the
/// new dtype).
/// </summary>
public class ModuleConversionTests
{
    public static TheoryData<string> Classes() =>
    [
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
        "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
    ];

    private static NormBase<T> Create<T>(string name, bool affine = true, bool track = true, double? momentum = 0.2)
        where T : unmanaged, IFloatingPointIeee754<T> => name switch
    {
        "BatchNorm1d" => new BatchNorm1d<T>(3, 1e-3, momentum, affine, track),
        "BatchNorm2d" => new BatchNorm2d<T>(3, 1e-3, momentum, affine, track),
        "BatchNorm3d" => new BatchNorm3d<T>(3, 1e-3, momentum, affine, track),
        "InstanceNorm1d" => new InstanceNorm1d<T>(3, 1e-3, momentum, affine, track),
        "InstanceNorm2d" => new InstanceNorm2d<T>(3, 1e-3, momentum, affine, track),
        "InstanceNorm3d" => new InstanceNorm3d<T>(3, 1e-3, momentum, affine, track),
        "LazyBatchNorm1d" => new LazyBatchNorm1d<T>(1e-3, momentum, affine, track),
        "LazyBatchNorm2d" => new LazyBatchNorm2d<T>(1e-3, momentum, affine, track),
        "LazyBatchNorm3d" => new LazyBatchNorm3d<T>(1e-3, momentum, affine, track),
        "LazyInstanceNorm1d" => new LazyInstanceNorm1d<T>(1e-3, momentum, affine, track),
        "LazyInstanceNorm2d" => new LazyInstanceNorm2d<T>(1e-3, momentum, affine, track),
        _ => new LazyInstanceNorm3d<T>(1e-3, momentum, affine, track),
    };

    private static nint[] Shape(string name) => name[^2..] switch { "1d" => [4, 3, 5], "2d" => [4, 3, 2, 3], _ => [4, 3, 2, 2, 2] };

    [Theory]
    [MemberData(nameof(Classes))]
    public void ToDouble_KeepsTheClassAndEveryPieceOfState(string name)
    {
        NormBase<float> layer = Create<float>(name);
        Tensor<float> x = Random<float>(1, 1, 2, Shape(name));
        layer.Forward(x);
        layer.Forward(x);
        layer.Backward(Random<float>(2, 0, 1, Shape(name)));
        layer.Weight!.RequiresGrad = false;
        layer.Eval();
        layer.TrackRunningStats = false;
        layer.NumBatchesTracked = 41;

        NormBase<double> converted = layer.ToDouble();

        Assert.Equal(layer.GetType().GetGenericTypeDefinition().MakeGenericType(typeof(double)), converted.GetType());
        Assert.Equal(layer.ModuleName, converted.ModuleName);
        Assert.Equal(layer.ToString(), converted.ToString());
        Assert.Equal((layer.NumFeatures, layer.Eps, layer.Momentum, layer.Affine, layer.TrackRunningStats, layer.Training, layer.HasUninitializedParameters),
                     (converted.NumFeatures, converted.Eps, converted.Momentum, converted.Affine, converted.TrackRunningStats, converted.Training, converted.HasUninitializedParameters));
        Assert.Equal(41L, converted.NumBatchesTracked);
        // float to double is exact
        Assert.Equal(Values(layer.Weight.Data), Values(converted.Weight!.Data));
        Assert.Equal(Values(layer.Weight.Grad!), Values(converted.Weight.Grad!));
        Assert.False(converted.Weight.RequiresGrad);
        Assert.Equal(Values(layer.Bias!.Data), Values(converted.Bias!.Data));
        Assert.Equal(Values(layer.Bias.Grad!), Values(converted.Bias.Grad!));
        Assert.True(converted.Bias.RequiresGrad);
        Assert.Equal(Values(layer.RunningMean!), Values(converted.RunningMean!));
        Assert.Equal(Values(layer.RunningVar!), Values(converted.RunningVar!));
        Assert.Equal(StateDType.Float64, converted.StateDict()["running_var"].DType);
        Assert.Equal(StateDType.Int64, converted.StateDict()["num_batches_tracked"].DType);
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void ToFloat_OfADoubleLayer_RoundsToNearest_AndTheConvertedLayerComputesAsAFloatLayer(string name)
    {
        NormBase<double> layer = Create<double>(name);
        layer.Forward(Random<double>(3, 0.1, 1, Shape(name)));
        layer.Weight!.Data[1] = 1.0 / 3;
        NormBase<float> converted = layer.ToFloat();
        Assert.Equal(1f / 3, converted.Weight!.Data[1]);
        Assert.Equal(Values(layer.RunningMean!).Select(v => (double)(float)v), Values(converted.RunningMean!));

        // Its next forward is the float computation on the same state.
        NormBase<float> reference = Create<float>(name);
        reference.LoadStateDict(converted.StateDict());
        Tensor<float> x = Random<float>(4, 0, 1, Shape(name));
        Assert.Equal(Values(reference.Forward(x)), Values(converted.Forward(x)));
        Assert.Equal(Values(reference.RunningVar!), Values(converted.RunningVar!));
    }

    [Fact]
    public void Conversion_ToTheSameType_ReturnsTheLayerItself()
    {
        // PyTorch's module.float() on a float module returns the module.
        var bn = new BatchNorm2d(3);
        Assert.Same(bn, bn.ToFloat());
        var bn64 = new BatchNorm2d<double>(3);
        Assert.Same(bn64, bn64.ToDouble());
    }

    [Fact]
    public void Conversion_LeavesTheSourceUnchanged_AndSharesNoTensor()
    {
        var bn = new BatchNorm1d(2);
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        var converted = (BatchNorm1d<double>)bn.ToDouble();
        converted.Weight!.Data[0] = 7;
        converted.RunningMean![0] = 7;
        converted.Forward(Tensor.Create(new double[] { 1, 2, 3, 5 }, [2, 2]));
        Assert.Equal([1.0, 1], Values(bn.Weight!.Data));
        Assert.Equal(1L, bn.NumBatchesTracked);
        Assert.Equal(2L, converted.NumBatchesTracked);
        Assert.IsType<BatchNorm1d>(bn);
    }

    [Theory]
    [InlineData("LazyBatchNorm2d")]
    [InlineData("LazyInstanceNorm1d")]
    public void LazyLayer_ConvertedBeforeItsFirstForward_StaysLazy_AndInitializesInTheNewType(string name)
    {
        // test_lazy_modules.py test_materialize_dtype: module.half() before materialize gives a float16 parameter.
        NormBase<float> lazy = Create<float>(name);
        lazy.NumBatchesTracked = 3;
        NormBase<double> converted = lazy.ToDouble();
        Assert.True(converted.HasUninitializedParameters);
        Assert.Equal(name, converted.ModuleName);
        Assert.Equal(StateDType.Float64, converted.StateDict()["weight"].DType);
        Assert.True(converted.StateDict()["running_mean"].IsUninitialized);
        Assert.Equal(3L, converted.NumBatchesTracked);

        converted.Forward(Random<double>(5, 0, 1, Shape(name)));
        Assert.Equal(3, converted.NumFeatures);
        Assert.Equal(name[4..], converted.ModuleName);
        Assert.True(lazy.HasUninitializedParameters);
    }

    [Fact]
    public void LazyLayer_WithAFlagChangedBeforeItsFirstForward_KeepsThatState()
    {
        var lazy = new LazyBatchNorm1d { Affine = false };
        NormBase<double> converted = lazy.ToDouble();
        Assert.False(converted.Affine);
        var e = Assert.Throws<InvalidOperationException>(() => converted.Forward(Tensor.Create(new double[6], [2, 3])));
        Assert.StartsWith("module LazyBatchNorm1d has not been fully initialized", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConvertedLayer_HasNoForwardToDifferentiate()
    {
        var bn = new BatchNorm1d(2);
        bn.Forward(Floats([1, 2, 3, 5], 2, 2));
        NormBase<double> converted = bn.ToDouble();
        Assert.Throws<InvalidOperationException>(() => converted.Backward(Tensor.Create(new double[4], [2, 2])));
    }

    [Fact]
    public void WithoutAffineOrTracking_NothingIsCreated()
    {
        NormBase<double> converted = new InstanceNorm2d(3).ToDouble();
        Assert.Null(converted.Weight);
        Assert.Null(converted.RunningMean);
        Assert.Null(converted.NumBatchesTracked);
        Assert.Empty(converted.StateDict().Keys);
    }

    [Fact]
    public void SubclassDefinedElsewhere_ConvertsOnlyWhenItSaysHow()
    {
        var custom = new CustomNorm<float>(3);
        var e = Assert.Throws<NotSupportedException>(() => custom.ToDouble());
        Assert.Equal("CustomNorm`1 (CustomNorm) cannot be converted to Double: it is defined outside NormSharp and does not override " +
                     "CreateForConversion.", e.Message);

        var convertible = new ConvertibleNorm<float>(3);
        convertible.RunningMean![0] = 0.5f;
        NormBase<double> converted = convertible.ToDouble();
        Assert.IsType<ConvertibleNorm<double>>(converted);
        Assert.Equal(0.5, converted.RunningMean![0]);
    }

    private class CustomNorm<T>(int channels) : BatchNorm<T>(channels, 1e-5, 0.1, true, true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly int[] Ranks = [2];

        public override string ModuleName => "CustomNorm";

        protected override IReadOnlyList<int> AcceptedRanks => Ranks;
    }

    private sealed class ConvertibleNorm<T>(int channels) : CustomNorm<T>(channels)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        protected override NormBase<TOther> CreateForConversion<TOther>() => new ConvertibleNorm<TOther>(NumFeatures);
    }
}
