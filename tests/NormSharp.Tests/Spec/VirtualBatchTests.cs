using System.Buffers;
using CsCheck;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>
/// Ghost batch normalization (<c>VirtualBatchSize</c>): a split training forward is the forward of each virtual batch in
/// turn, its backward each virtual batch's backward; the last, smaller virtual batch follows the small-batch policy; a
/// forward that fails part-way changes nothing.
/// </summary>
public class VirtualBatchTests
{
    /// <summary>One random case: a layer kind and its flags, an input, the virtual batch size.</summary>
    public sealed record GhostCase(bool Instance, int Rank, int N, int C, int Spatial, int Size, double? Momentum, bool Affine,
                                   bool Track, bool ChannelsLast, bool Float, int Seed)
    {
        public nint[] Shape => Rank switch
        {
            2 => [N, C],
            3 => [N, C, Spatial],
            4 => [N, C, Spatial, 2],
            _ => [N, C, 2, Spatial, 2],
        };

        public NormBase<T> Layer<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            NormBase<T> layer = Instance
                ? Rank switch
                {
                    3 => new InstanceNorm1d<T>(C, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    4 => new InstanceNorm2d<T>(C, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    _ => new InstanceNorm3d<T>(C, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                }
                : Rank switch
                {
                    2 or 3 => new BatchNorm1d<T>(C, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    4 => new BatchNorm2d<T>(C, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    _ => new BatchNorm3d<T>(C, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                };
            if (layer.Weight is not null)
                for (int c = 0; c < C; c++)
                {
                    layer.Weight.Data[(nint)c] = T.CreateTruncating(0.5 + 0.25 * c);
                    layer.Bias!.Data[(nint)c] = T.CreateTruncating(0.1 * c - 0.2);
                }

            return layer;
        }

        public override string ToString() =>
            $"{(Instance ? "InstanceNorm" : "BatchNorm")} [{string.Join(", ", Shape)}] k={Size} momentum {Momentum?.ToString() ?? "null"} " +
            $"affine {Affine} track {Track} channels-last {ChannelsLast} {(Float ? "float" : "double")} seed {Seed}";
    }

    private static readonly Gen<GhostCase> Cases =
        from instance in Gen.Bool
        from rank in instance ? Gen.Int[3, 5] : Gen.Int[2, 5]
        from n in Gen.Int[2, 11]
        from c in Gen.Int[1, 4]
        from spatial in Gen.Int[2, 4]
        from size in Gen.Int[2, 5]
        from momentum in Gen.Frequency((3, Gen.Double[0.01, 1].Select(m => (double?)m)), (1, Gen.Const((double?)null)))
        from affine in Gen.Bool
        from track in Gen.Bool
        from channelsLast in Gen.Bool
        from isFloat in Gen.Bool
        from seed in Gen.Int[0, 100_000]
        select new GhostCase(instance, rank, n, c, spatial, size, momentum, affine, track, channelsLast && rank >= 4, isFloat, seed);

    [Fact]
    public void SplitForwardAndBackward_AreEachVirtualBatchsForwardAndBackward_InTurn()
    {
        Cases.Sample(ghost =>
        {
            if (ghost.Float) CheckAgainstChunkByChunk<float>(ghost, gradientTolerance: 1e-5);
            else CheckAgainstChunkByChunk<double>(ghost, gradientTolerance: 1e-12);
        }, iter: 600);
    }

    private static void CheckAgainstChunkByChunk<T>(GhostCase ghost, double gradientTolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        nint[] shape = ghost.Shape;
        Tensor<T> x = Input<T>(ghost, shape, ghost.Seed);
        Tensor<T> dy = Random<T>(ghost.Seed + 1, 0, 1, shape);
        NormBase<T> split = ghost.Layer<T>(), reference = ghost.Layer<T>();
        split.VirtualBatchSize = ghost.Size;
        // One value per channel in a BatchNorm1d virtual batch of one sample: the running statistics normalize it instead.
        split.SmallBatchPolicy = reference.SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics;
        ForwardPlan plan = split.Explain(shape);

        bool fails = plan.Error is not null;
        var outputs = new List<double>();
        var dxs = new List<double>();
        var pieces = new List<Tensor<T>>();
        string? referenceError = null;
        try
        {
            for (nint start = 0; start < ghost.N; start += ghost.Size)
            {
                nint rows = Math.Min(ghost.Size, ghost.N - start);
                Tensor<T> piece = Rows(x, start, rows);
                pieces.Add(piece);
                outputs.AddRange(Values(reference.Forward(piece)));
                dxs.AddRange(Values(reference.Backward(Rows(dy, start, rows))));
            }
        }
        catch (ArgumentException error)
        {
            referenceError = error.Message;
        }

        Assert.Equal(referenceError is null, plan.Error is null);
        if (referenceError is not null) Assert.StartsWith(referenceError, plan.Error);
        if (fails)
        {
            Assert.Throws<ArgumentException>(() => split.Forward(x));
            return;
        }

        Tensor<T> y = split.Forward(x);
        Assert.Equal(outputs, Values(y));
        Assert.Equal(reference.RunningMean is null ? null : Values(reference.RunningMean), split.RunningMean is null ? null : Values(split.RunningMean));
        Assert.Equal(reference.RunningVar is null ? null : Values(reference.RunningVar), split.RunningVar is null ? null : Values(split.RunningVar));
        Assert.Equal(reference.NumBatchesTracked, split.NumBatchesTracked);
        Assert.Equal(reference.NumBatchesTracked, plan.CounterAfter);
        Assert.Equal((ghost.N + ghost.Size - 1) / ghost.Size, plan.VirtualBatches);
        Assert.Equal(ghost.N > ghost.Size ? ghost.Size : null, plan.VirtualBatchSize);

        Assert.Equal(dxs, Values(split.Backward(dy)));
        if (reference.Weight is not null)
        {
            AllClose(Values(reference.Weight.Grad!), Values(split.Weight!.Grad!), gradientTolerance, gradientTolerance);
            AllClose(Values(reference.Bias!.Grad!), Values(split.Bias!.Grad!), gradientTolerance, gradientTolerance);
        }
    }

    private static Tensor<T> Input<T>(GhostCase ghost, nint[] shape, int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Tensor<T> dense = Random<T>(seed, 0.5, 2, shape);
        return ghost.ChannelsLast ? ChannelsLast.From(dense) : dense;
    }

    private static Tensor<T> Rows<T>(Tensor<T> tensor, nint start, nint rows)
    {
        var ranges = new NRange[tensor.Rank];
        ranges[0] = new NRange(start, start + rows);
        for (int d = 1; d < ranges.Length; d++) ranges[d] = NRange.All;
        return tensor.Slice(ranges);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    public void VirtualBatchSize_ZeroOrNegative_IsRefusedAtTheSetter_AndChangesNothing(int size)
    {
        var bn = new BatchNorm1d(3) { VirtualBatchSize = 8 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => bn.VirtualBatchSize = size);
        Assert.Contains("VirtualBatchSize must be a positive number of samples", error.Message);
        Assert.Equal(8, bn.VirtualBatchSize);
    }

    [Fact]
    public void RemainderOfOneSample_WithTheDefaultPolicy_ThrowsPyTorchsError_AndChangesNothing()
    {
        var bn = new BatchNorm1d<double>(3) { VirtualBatchSize = 4 };
        bn.Forward(Random<double>(1, 0, 1, 8, 3));
        Tensor<double> dy = Random<double>(2, 0, 1, 8, 3);
        double[] mean = Values(bn.RunningMean!), variance = Values(bn.RunningVar!);
        Tensor<double> x9 = Random<double>(3, 0, 1, 9, 3);

        ForwardPlan plan = bn.Explain(x9.Lengths);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(x9));
        Assert.StartsWith("Expected more than 1 value per channel when training, got input size [1, 3] (the last virtual batch: " +
                          "VirtualBatchSize = 4 splits 9 samples into virtual batches of 4 and a last one of 1; nothing changed)", error.Message);
        Assert.Equal(error.Message, plan.Error);
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(variance, Values(bn.RunningVar!));
        Assert.Equal(2, bn.NumBatchesTracked);
        Assert.Equal([8, 3], bn.Backward(dy).Lengths.ToArray()); // the previous forward's backward still works
    }

    [Fact]
    public void RemainderOfOneSample_WithUseRunningStatistics_IsNormalizedWithTheRunningStatistics_AndNotCounted()
    {
        var bn = new BatchNorm1d<double>(3) { VirtualBatchSize = 4, SmallBatchPolicy = SmallBatchPolicy.UseRunningStatistics };
        var reference = new BatchNorm1d<double>(3);
        Tensor<double> x = Random<double>(4, 1, 2, 9, 3);
        Tensor<double> y = bn.Forward(x);
        reference.Forward(Rows(x, 0, 4));
        reference.Forward(Rows(x, 4, 4));
        reference.Eval();
        double[] last = Values(reference.Forward(Rows(x, 8, 1)));
        Assert.Equal(last, Values(y).Skip(24));
        Assert.Equal(2, bn.NumBatchesTracked);
        Assert.Equal(Values(reference.RunningMean!), Values(bn.RunningMean!));
        Assert.Contains(bn.Explain(x.Lengths).Reasons, r => r.Contains("last virtual batch (1 sample)", StringComparison.Ordinal));
    }

    [Fact]
    public void ForwardFailingInALaterVirtualBatch_RestoresTheRunningStatisticsAndTheCounter()
    {
        var bn = new BatchNorm1d<double>(2) { VirtualBatchSize = 3, NonFinitePolicy = NonFinitePolicy.Throw };
        Tensor<double> x = Random<double>(5, 0, 1, 9, 2);
        x[7, 1] = double.NaN; // the third virtual batch's channel 1
        double[] mean = Values(bn.RunningMean!), variance = Values(bn.RunningVar!);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(x));
        Assert.Contains("channel 1", error.Message);
        Assert.Equal(mean, Values(bn.RunningMean!));
        Assert.Equal(variance, Values(bn.RunningVar!));
        Assert.Equal(0, bn.NumBatchesTracked);
        Assert.Throws<InvalidOperationException>(() => bn.Backward(x)); // no forward was published
    }

    [Fact]
    public void EvaluationForwards_AndBatchesNoLargerThanTheVirtualBatch_AreNotSplit()
    {
        var split = new BatchNorm2d<double>(3) { VirtualBatchSize = 4 };
        var plain = new BatchNorm2d<double>(3);
        Tensor<double> small = Random<double>(6, 0, 1, 4, 3, 2, 2);
        Assert.Equal(Values(plain.Forward(small)), Values(split.Forward(small)));
        Assert.Null(split.Explain(small.Lengths).VirtualBatchSize);
        split.Eval();
        plain.Eval();
        Tensor<double> large = Random<double>(7, 0, 1, 10, 3, 2, 2);
        Assert.Equal(Values(plain.Forward(large)), Values(split.Forward(large)));
        Assert.Equal(1, split.Explain(large.Lengths).VirtualBatches);
    }

    [Fact]
    public void SplitForwardIntoADestination_WritesEveryVirtualBatchInPlace_AndBackwardIntoADestinationToo()
    {
        var split = new BatchNorm2d(3) { VirtualBatchSize = 3 };
        var plain = new BatchNorm2d(3) { VirtualBatchSize = 3 };
        Tensor<float> x = ChannelsLast.From(Random(8, 7, 3, 4, 4));
        Tensor<float> destination = ChannelsLast.Create<float>([7, 3, 4, 4]);
        split.Forward(x, destination);
        Assert.Equal(Values(plain.Forward(x)), Values(destination));
        Tensor<float> dy = ChannelsLast.From(Random(9, 7, 3, 4, 4));
        Tensor<float> dx = ChannelsLast.Create<float>([7, 3, 4, 4]);
        split.Backward(dy, dx);
        Assert.Equal(Values(plain.Backward(dy)), Values(dx));
    }

    [Fact]
    public void SplitBackward_MatchesCentralFiniteDifferences()
    {
        const double step = 1e-6;
        nint[] shape = [7, 2, 3];
        double[] x0 = Values(Random<double>(21, 0.5, 1.5, shape));
        double[] dyValues = Values(Random<double>(22, 0, 1, shape));
        BatchNorm1d<double> Make()
        {
            var bn = new BatchNorm1d<double>(2) { VirtualBatchSize = 3 };
            bn.Weight!.Data[0] = 0.7;
            bn.Weight.Data[1] = -1.3;
            bn.Bias!.Data[1] = 0.4;
            return bn;
        }

        double Loss(double[] xs, double w0 = 0.7, double b1 = 0.4)
        {
            BatchNorm1d<double> bn = Make();
            bn.Weight!.Data[0] = w0;
            bn.Bias!.Data[1] = b1;
            return Values(bn.Forward(Tensor.Create(xs, shape))).Select((v, i) => v * dyValues[i]).Sum();
        }

        BatchNorm1d<double> layer = Make();
        layer.Forward(Tensor.Create((double[])x0.Clone(), shape));
        double[] dx = Values(layer.Backward(Tensor.Create(dyValues, shape)));
        for (int k = 0; k < x0.Length; k++)
        {
            double[] plus = (double[])x0.Clone(), minus = (double[])x0.Clone();
            plus[k] += step;
            minus[k] -= step;
            double numeric = (Loss(plus) - Loss(minus)) / (2 * step);
            Assert.True(Math.Abs(numeric - dx[k]) <= 1e-6 * (1 + Math.Abs(numeric)), $"dx[{k}]: numeric {numeric:R}, backward {dx[k]:R}");
        }

        double dWeight = (Loss(x0, w0: 0.7 + step) - Loss(x0, w0: 0.7 - step)) / (2 * step);
        double dBias = (Loss(x0, b1: 0.4 + step) - Loss(x0, b1: 0.4 - step)) / (2 * step);
        Assert.True(Math.Abs(dWeight - layer.Weight!.Grad![0]) <= 1e-6 * (1 + Math.Abs(dWeight)), $"dweight[0]: numeric {dWeight:R}, backward {layer.Weight.Grad[0]:R}");
        Assert.True(Math.Abs(dBias - layer.Bias!.Grad![1]) <= 1e-6 * (1 + Math.Abs(dBias)), $"dbias[1]: numeric {dBias:R}, backward {layer.Bias.Grad[1]:R}");
    }

    [Fact]
    public void SplitForward_OfHalfInput_IsEachVirtualBatchsMixedPrecisionForward()
    {
        var split = new BatchNorm2d(3) { VirtualBatchSize = 2 };
        var reference = new BatchNorm2d(3);
        Tensor<float> values = Random(11, 5, 3, 2, 2);
        Tensor<Half> x = Tensor.Create(Values(values).Select(v => (Half)v).ToArray(), [5, 3, 2, 2]);
        Tensor<Half> dy = Tensor.Create(Values(Random(12, 5, 3, 2, 2)).Select(v => (Half)v).ToArray(), [5, 3, 2, 2]);
        Tensor<Half> y = split.Forward(x);
        Tensor<Half> dx = split.Backward(dy);
        var outputs = new List<Half>();
        var dxs = new List<Half>();
        for (nint start = 0; start < 5; start += 2)
        {
            nint rows = Math.Min(2, 5 - start);
            outputs.AddRange(reference.Forward(Rows(x, start, rows)));
            dxs.AddRange(reference.Backward(Rows(dy, start, rows)));
        }

        Assert.Equal(outputs, y.ToArray());
        Assert.Equal(dxs, dx.ToArray());
        Assert.Equal(Values(reference.RunningVar!), Values(split.RunningVar!));
        Assert.Equal(3, split.NumBatchesTracked);
    }

    [Fact]
    public void SplitForward_IsExplainedWithTheNumberOfVirtualBatchesAndTheCounter()
    {
        var bn = new BatchNorm1d(4) { VirtualBatchSize = 32 };
        ForwardPlan plan = bn.Explain([100, 4]);
        Assert.Equal(32, plan.VirtualBatchSize);
        Assert.Equal(4, plan.VirtualBatches);
        Assert.Equal(4, plan.CounterAfter);
        Assert.Contains(plan.Reasons, r => r.Contains("normalized as 4 virtual batches (3 of 32 and a last one of 4)", StringComparison.Ordinal)
                                           && r.Contains("num_batches_tracked goes from 0 to 4", StringComparison.Ordinal));
        bn.Forward(Random(3, 100, 4));
        Assert.Equal(4, bn.NumBatchesTracked);
    }
}
