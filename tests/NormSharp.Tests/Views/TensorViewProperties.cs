using System.Numerics;
using Xunit.Abstractions;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Views;

/// <summary>
/// Every entry point reads and writes a tensor through its own offset and strides: the same call on views inside larger
/// arrays (at random offsets, row-major, channels-last or padded with gaps) and on fresh dense tensors with the same
/// values gives the same bits, and nothing outside a view is read into the result or written.
/// </summary>
public class TensorViewProperties(ITestOutputHelper output)
{
    private const int ModuleCases = 1200, FunctionalCases = 1000;

    [Fact]
    public void Modules_ViewsAndDenseTensors_GiveTheSameBits_AndNothingOutsideAViewChanges()
    {
        var kinds = new Dictionary<ViewKind, int>();
        for (int seed = 0; seed < ModuleCases; seed++)
        {
            var rng = new Random(seed);
            ViewKind kind = seed % 2 == 0 ? ModuleCase<float>(rng, seed) : ModuleCase<double>(rng, seed);
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }

        Report($"view property (modules): {ModuleCases} cases, {string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Value} {k.Key}"))} inputs, 0 differences");
    }

    [Fact]
    public void Functional_ViewsAndDenseTensors_GiveTheSameBits_AndNothingOutsideAViewChanges()
    {
        for (int seed = 0; seed < FunctionalCases; seed++)
        {
            var rng = new Random(100_000 + seed);
            if (seed % 2 == 0) FunctionalCase<float>(rng, seed);
            else FunctionalCase<double>(rng, seed);
        }

        Report($"view property (functional): {FunctionalCases} cases, 0 differences");
    }

    [Fact]
    public void Forward_OfASliceAlongTheBatch_UsesTheSlicesRows()
    {
        var full = Tensor.Create(new float[] { 100, 200, 300, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, [4, 3]);
        var bn = new BatchNorm1d(3, affine: false, momentum: 1.0);
        bn.Forward(full.Slice(new System.Buffers.NRange[] { 1..4, 0..3 }));
        Assert.Equal([4.0, 5.0, 6.0], Values(bn.RunningMean!));
    }

    private static ViewKind ModuleCase<T>(Random rng, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool instance = rng.Next(3) == 0;
        int rank = instance ? rng.Next(3, 6) : rng.Next(2, 6);
        nint[] shape = RandomShape(rng, rank, instance);
        int channels = (int)shape[1];
        bool affine = rng.Next(4) != 0, track = rng.Next(4) != 0, train = rng.Next(3) != 0;
        double? momentum = rng.Next(4) == 0 ? null : rng.NextDouble();
        NormBase<T> viewed = Layer<T>(instance, rank, channels, momentum, affine, track);
        NormBase<T> dense = Layer<T>(instance, rank, channels, momentum, affine, track);
        string what = $"seed {seed}: {viewed.ModuleName}<{typeof(T).Name}> {TorchShape(shape)} affine {affine} track {track} train {train}";

        // A history on dense tensors, so that weights and running statistics are not the defaults.
        T[] history = Draw<T>(rng, shape, 3, 2);
        foreach (NormBase<T> layer in new[] { viewed, dense })
        {
            layer.Forward(Tensor.Create(history, shape));
            if (layer.Weight is not null)
                for (int c = 0; c < channels; c++) (layer.Weight.Data[c], layer.Bias!.Data[c]) = (T.CreateTruncating(1 + 0.1 * c), T.CreateTruncating(0.5 - c));
            layer.Train(train);
        }

        ViewKind kind = rank >= 4 && rng.Next(3) == 0 ? ViewKind.ChannelsLast : rng.Next(2) == 0 ? ViewKind.RowMajor : ViewKind.Padded;
        var x = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, 10, 3), kind);
        T[] xBefore = x.Snapshot();
        Tensor<T> y, yDense = dense.Forward(x.Dense());
        TensorView<T>? destination = null;
        if (rng.Next(2) == 0)
        {
            ViewKind outputKind = !instance && kind == ViewKind.ChannelsLast ? ViewKind.ChannelsLast : ViewKind.RowMajor;
            destination = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, 99, 1), outputKind);
            viewed.Forward(x.Tensor, destination.Tensor);
            y = destination.Tensor;
        }
        else
        {
            y = viewed.Forward(x.Tensor);
        }

        AssertSameBits(yDense, y, what + " output");
        AssertSameState(dense, viewed, what);
        Assert.True(xBefore.AsSpan().SequenceEqual(x.Backing), what + ": the input's array changed");
        destination?.AssertOutsideUntouched(what + " destination");

        ViewKind dyKind = rank >= 4 && rng.Next(3) == 0 ? ViewKind.ChannelsLast : rng.Next(2) == 0 ? ViewKind.RowMajor : ViewKind.Padded;
        var dy = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, 0, 1), dyKind);
        T[] dyBefore = dy.Snapshot();
        Tensor<T> dxDense = dense.Backward(dy.Dense()), dx;
        TensorView<T>? dxDestination = null;
        if (rng.Next(2) == 0)
        {
            ViewKind dxKind = !instance && kind == ViewKind.ChannelsLast && dyKind == ViewKind.ChannelsLast ? ViewKind.ChannelsLast : ViewKind.RowMajor;
            dxDestination = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, 99, 1), dxKind);
            viewed.Backward(dy.Tensor, dxDestination.Tensor);
            dx = dxDestination.Tensor;
        }
        else
        {
            dx = viewed.Backward(dy.Tensor);
        }

        AssertSameBits(dxDense, dx, what + " dx");
        if (dense.Weight is not null)
        {
            AssertSameBits(dense.Weight.Grad!, viewed.Weight!.Grad!, what + " weight grad");
            AssertSameBits(dense.Bias!.Grad!, viewed.Bias!.Grad!, what + " bias grad");
        }

        Assert.True(dyBefore.AsSpan().SequenceEqual(dy.Backing), what + ": dy's array changed");
        dxDestination?.AssertOutsideUntouched(what + " dx destination");
        return kind;
    }

    private static void FunctionalCase<T>(Random rng, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool instance = rng.Next(2) == 0;
        int rank = instance ? rng.Next(3, 6) : rng.Next(2, 6);
        nint[] shape = RandomShape(rng, rank, instance);
        int channels = (int)shape[1];
        bool training = rng.Next(3) != 0, withParameters = rng.Next(3) != 0;
        double momentum = rng.NextDouble();
        string what = $"seed {seed}: {(instance ? "InstanceNorm" : "BatchNorm")}<{typeof(T).Name}> {TorchShape(shape)} training {training}";

        // running_mean and running_var as two slices of one array; weight and bias as slices of another.
        T[] meanValues = Draw<T>(rng, [channels], 1, 1), varValues = Draw<T>(rng, [channels], 2, 0.5);
        (Tensor<T> runningMean, Tensor<T> runningVar, T[] runningArray, bool[] runningCovered) = TwoSlices(rng, meanValues, varValues);
        (Tensor<T> weight, Tensor<T> bias, _, _) = TwoSlices(rng, Draw<T>(rng, [channels], 1, 0.3), Draw<T>(rng, [channels], 0, 1));
        Tensor<T> denseMean = Tensor.Create(meanValues.ToArray(), [channels]), denseVar = Tensor.Create(varValues.ToArray(), [channels]);
        Tensor<T>? w = withParameters ? weight : null, b = withParameters ? bias : null;
        Tensor<T>? denseWeight = withParameters ? Tensor.Create(Flat(weight), [channels]) : null;
        Tensor<T>? denseBias = withParameters ? Tensor.Create(Flat(bias), [channels]) : null;

        ViewKind kind = !instance && rank >= 4 && rng.Next(3) == 0 ? ViewKind.ChannelsLast : rng.Next(2) == 0 ? ViewKind.RowMajor : ViewKind.Padded;
        var x = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, -5, 2), kind);
        T[] xBefore = x.Snapshot();
        ViewKind outputKind = kind == ViewKind.ChannelsLast ? ViewKind.ChannelsLast : ViewKind.RowMajor;
        var destination = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, 99, 1), outputKind);
        Tensor<T> expected;
        if (instance)
        {
            expected = Functional.InstanceNorm(x.Dense(), denseMean, denseVar, denseWeight, denseBias, training, momentum, 1e-5);
            Functional.InstanceNorm(x.Tensor, runningMean, runningVar, w, b, training, momentum, 1e-5, destination.Tensor);
        }
        else
        {
            expected = Functional.BatchNorm(x.Dense(), denseMean, denseVar, denseWeight, denseBias, training, momentum, 1e-5);
            Functional.BatchNorm(x.Tensor, runningMean, runningVar, w, b, training, momentum, 1e-5, destination.Tensor);
        }

        AssertSameBits(expected, destination.Tensor, what + " output");
        AssertSameBits(denseMean, runningMean, what + " running_mean");
        AssertSameBits(denseVar, runningVar, what + " running_var");
        destination.AssertOutsideUntouched(what + " destination");
        Assert.True(xBefore.AsSpan().SequenceEqual(x.Backing), what + ": the input's array changed");
        for (int i = 0; i < runningArray.Length; i++)
            if (!runningCovered[i]) Assert.Equal(TensorView<T>.Sentinel, runningArray[i]);
        if (instance) return;

        // native_batch_norm and its backward, with dy and the saved statistics as views.
        BatchNormResult<T> native = Functional.NativeBatchNorm(x.Tensor, w, b, runningMean, runningVar, training, momentum, 1e-5);
        BatchNormResult<T> nativeDense = Functional.NativeBatchNorm(x.Dense(), denseWeight, denseBias, denseMean, denseVar, training, momentum, 1e-5);
        AssertSameBits(nativeDense.Output, native.Output, what + " native output");
        var dy = TensorView<T>.Create(rng, shape, Draw<T>(rng, shape, 0, 1), rng.Next(2) == 0 ? ViewKind.RowMajor : ViewKind.Padded);
        (Tensor<T> saveMean, Tensor<T> saveInvStd, _, _) = training ? TwoSlices(rng, Flat(native.SaveMean), Flat(native.SaveInvStd)) : (native.SaveMean, native.SaveInvStd, [], []);
        BatchNormGradients<T> gradients = Functional.BatchNormBackward(dy.Tensor, x.Tensor, w, runningMean, runningVar, saveMean, saveInvStd, training, 1e-5);
        BatchNormGradients<T> denseGradients = Functional.BatchNormBackward(dy.Dense(), x.Dense(), denseWeight, denseMean, denseVar,
                                                                            nativeDense.SaveMean, nativeDense.SaveInvStd, training, 1e-5);
        AssertSameBits(denseGradients.Input!, gradients.Input!, what + " dx");
        AssertSameBits(denseGradients.Weight!, gradients.Weight!, what + " dweight");
        AssertSameBits(denseGradients.Bias!, gradients.Bias!, what + " dbias");
    }

    /// <summary>Two (C) tensors as slices of one array, at random offsets, with sentinels around and between them.</summary>
    private static (Tensor<T> First, Tensor<T> Second, T[] Array, bool[] Covered) TwoSlices<T>(Random rng, T[] first, T[] second)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = first.Length, a = rng.Next(0, 5), gap = rng.Next(0, 5), tail = rng.Next(0, 5);
        var array = new T[a + c + gap + c + tail];
        Array.Fill(array, TensorView<T>.Sentinel);
        var covered = new bool[array.Length];
        bool secondFirst = rng.Next(2) == 0;
        int firstAt = secondFirst ? a + c + gap : a, secondAt = secondFirst ? a : a + c + gap;
        first.CopyTo(array, firstAt);
        second.CopyTo(array, secondAt);
        for (int i = 0; i < c; i++) covered[firstAt + i] = covered[secondAt + i] = true;
        nint[] strides = [c == 1 ? 0 : 1];
        return (Tensor.Create(array, firstAt, [c], strides), Tensor.Create(array, secondAt, [c], strides), array, covered);
    }

    private static NormBase<T> Layer<T>(bool instance, int rank, int channels, double? momentum, bool affine, bool track)
        where T : unmanaged, IFloatingPointIeee754<T> => (instance, rank) switch
        {
            (false, 2 or 3) => new BatchNorm1d<T>(channels, 1e-5, momentum, affine, track),
            (false, 4) => new BatchNorm2d<T>(channels, 1e-5, momentum, affine, track),
            (false, _) => new BatchNorm3d<T>(channels, 1e-5, momentum, affine, track),
            (true, 3) => new InstanceNorm1d<T>(channels, 1e-5, momentum, affine, track),
            (true, 4) => new InstanceNorm2d<T>(channels, 1e-5, momentum, affine, track),
            _ => new InstanceNorm3d<T>(channels, 1e-5, momentum, affine, track),
        };

    /// <summary>A shape with more than one value per statistic: N·S &gt; 1 for BatchNorm, S &gt; 1 for InstanceNorm.</summary>
    private static nint[] RandomShape(Random rng, int rank, bool instance)
    {
        while (true)
        {
            var shape = new nint[rank];
            shape[0] = rng.Next(1, 6);
            shape[1] = rng.Next(1, 6);
            for (int d = 2; d < rank; d++) shape[d] = rng.Next(1, rank == 3 ? 20 : 6);
            long spatial = 1;
            for (int d = 2; d < rank; d++) spatial *= shape[d];
            if (instance ? spatial > 1 : shape[0] * spatial > 1) return shape;
        }
    }

    private static T[] Draw<T>(Random rng, nint[] shape, double mean, double std) where T : IFloatingPointIeee754<T>
    {
        long count = 1;
        foreach (nint l in shape) count *= l;
        var values = new T[count];
        for (int i = 0; i < values.Length; i++) values[i] = T.CreateTruncating(mean + std * (rng.NextDouble() * 2 - 1));
        return values;
    }

    private static T[] Flat<T>(Tensor<T> tensor)
    {
        var values = new T[tensor.FlattenedLength];
        tensor.FlattenTo(values);
        return values;
    }

    private static void AssertSameBits<T>(Tensor<T> expected, Tensor<T> actual, string what) where T : IFloatingPointIeee754<T>
    {
        Assert.True(expected.Lengths.SequenceEqual(actual.Lengths), $"{what}: shape {TorchShape(actual.Lengths)}, expected {TorchShape(expected.Lengths)}");
        T[] e = Flat(expected), a = Flat(actual);
        for (int i = 0; i < e.Length; i++)
            if (!e[i].Equals(a[i]) && !(T.IsNaN(e[i]) && T.IsNaN(a[i])))
                Assert.Fail($"{what}: element {i} is {a[i]}, the dense tensors give {e[i]}.");
    }

    private static void AssertSameState<T>(NormBase<T> expected, NormBase<T> actual, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (expected.RunningMean is not null)
        {
            AssertSameBits(expected.RunningMean, actual.RunningMean!, what + " running_mean");
            AssertSameBits(expected.RunningVar!, actual.RunningVar!, what + " running_var");
        }

        Assert.Equal(expected.NumBatchesTracked, actual.NumBatchesTracked);
    }

    private static string TorchShape(ReadOnlySpan<nint> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    private void Report(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
