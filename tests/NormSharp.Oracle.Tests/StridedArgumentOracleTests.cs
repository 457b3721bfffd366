using System.Numerics;
using System.Numerics.Tensors;
using CsCheck;
using NormSharp.Oracle.Tests.Reference;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// <c>F.batch_norm</c> and <c>F.instance_norm</c> with strided running_mean, running_var, weight and bias, against libtorch
/// given the same views (<c>tensor[start::step]</c> of larger tensors): the output, the running statistics read back through
/// the views, and every element of the arrays behind them (those between the views' elements must stay as they were). PyTorch
/// accepts any strides here (test/test_ops.py <c>test_noncontiguous_samples</c>), and so must NormSharp.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class StridedArgumentOracleTests
{
    /// <summary>One per-channel argument: absent (step 0), or the elements start, start + step, ... of an array of its own.</summary>
    public sealed record View(int Start, int Step)
    {
        public bool Present => Step > 0;

        public override string ToString() => Present ? $"[{Start}::{Step}]" : "None";
    }

    public sealed record StridedCase(bool Instance, bool UseDouble, long[] Shape, bool Training, double Momentum, View Mean, View Var, View Weight,
                                     View Bias, int Seed)
    {
        public override string ToString() =>
            $"{(Instance ? "instance_norm" : "batch_norm")} {(UseDouble ? "float64" : "float32")} [{string.Join(", ", Shape)}] " +
            $"{(Instance ? "use_input_stats" : "training")}={Training} momentum {Momentum} running_mean {Mean} running_var {Var} weight {Weight} " +
            $"bias {Bias} seed {Seed}";
    }

    private static readonly Gen<View> Views = Gen.Select(Gen.Int[0, 3], Gen.Int[1, 3], (start, step) => new View(start, step));

    private static readonly Gen<StridedCase> Cases =
        from instance in Gen.Bool
        from useDouble in Gen.Bool
        from rank in Gen.Int[2, 5]
        from n in Gen.Int[1, 5]
        from c in Gen.Int[1, 6]
        from spatial in Gen.Int[1, 5].Array[rank - 2]
        from training in Gen.Bool
        from momentum in Gen.Double[0, 1]
        from mean in Views
        from variance in Views
        from weight in Gen.Frequency((3, Views), (1, Gen.Const(new View(0, 0))))
        from bias in Gen.Frequency((3, Views), (1, Gen.Const(new View(0, 0))))
        from seed in Gen.Int
        let shape = new long[] { n, c }.Concat(spatial.Select(s => (long)s)).ToArray()
        where Valid(instance, shape, training)
        select new StridedCase(instance, useDouble, shape, training, Math.Round(momentum, 3), mean, variance, weight, bias, seed);

    /// <summary>Shapes the op accepts: more than one value per statistic with input statistics; InstanceNorm has rank ≥ 3.</summary>
    private static bool Valid(bool instance, long[] shape, bool inputStatistics)
    {
        long spatial = shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        if (instance) return shape.Length >= 3 && (!inputStatistics || spatial > 1);
        return !inputStatistics || shape[0] * spatial > 1;
    }

    [Fact]
    public void RandomStridedArguments_MatchLibtorchGivenTheSameViews()
    {
        Cases.Sample(c =>
        {
            if (c.UseDouble) Check<double>(c);
            else Check<float>(c);
        }, iter: 600);
    }

    private static void Check<T>(StridedCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var scope = torch.NewDisposeScope();
        var random = new Random(c.Seed);
        int batch = (int)c.Shape[0], channels = (int)c.Shape[1];
        long count = c.Shape.Aggregate(1L, (a, b) => a * b);
        int spatial = (int)(count / (batch * channels));
        double[] x = OracleRunner.Normal(random, count, 1, 2, c.UseDouble);
        double[] rmBase = Backing(random, c.Mean, channels, 0, 1, c.UseDouble);
        double[] rvBase = Backing(random, c.Var, channels, 0, 1, c.UseDouble).Select(v => 0.5 + Math.Abs(v)).Select(v => c.UseDouble ? v : (float)v).ToArray();
        double[] wBase = Backing(random, c.Weight, channels, 1, 0.5, c.UseDouble), bBase = Backing(random, c.Bias, channels, 0, 1, c.UseDouble);

        // libtorch, through PyTorch's Python checks, on views of its own tensors.
        torch.Tensor trmBase = OracleRunner.TorchTensor(rmBase, [rmBase.Length], c.UseDouble), trvBase = OracleRunner.TorchTensor(rvBase, [rvBase.Length], c.UseDouble);
        torch.Tensor? TorchView(torch.Tensor backing, View view) => view.Present ? backing.slice(0, view.Start, view.Start + (long)view.Step * channels, view.Step) : null;
        torch.Tensor tx = OracleRunner.TorchTensor(x, c.Shape, c.UseDouble);
        torch.Tensor? trm = TorchView(trmBase, c.Mean), trv = TorchView(trvBase, c.Var);
        torch.Tensor? tw = TorchView(OracleRunner.TorchTensor(wBase, [wBase.Length], c.UseDouble), c.Weight);
        torch.Tensor? tb = TorchView(OracleRunner.TorchTensor(bBase, [bBase.Length], c.UseDouble), c.Bias);
        bool statisticsNeeded = !c.Training;
        if (statisticsNeeded && (trm is null || trv is null)) return; // the "must be defined" errors are tested elsewhere
        torch.Tensor ty = c.Instance
            ? PyTorchInstanceNorm.FunctionalInstanceNorm(tx, trm, trv, tw, tb, c.Training, c.Momentum, 1e-5)
            : PyTorchBatchNorm.FunctionalBatchNorm(tx, trm, trv, tw, tb, c.Training, c.Momentum, 1e-5);

        // NormSharp on views of its own arrays.
        T[] rmMemory = rmBase.Select(T.CreateTruncating).ToArray(), rvMemory = rvBase.Select(T.CreateTruncating).ToArray();
        Tensor<T>? OurView(T[] backing, View view) => view.Present ? Tensor.Create(backing, view.Start, [channels], [channels == 1 ? 0 : view.Step]) : null;
        Tensor<T> ox = OracleRunner.NormTensor<T>(x, c.Shape);
        Tensor<T>? orm = OurView(rmMemory, c.Mean), orv = OurView(rvMemory, c.Var);
        Tensor<T>? ow = OurView(wBase.Select(T.CreateTruncating).ToArray(), c.Weight), ob = OurView(bBase.Select(T.CreateTruncating).ToArray(), c.Bias);
        Tensor<T> oy = c.Instance
            ? Functional.InstanceNorm(ox, orm, orv, ow, ob, c.Training, c.Momentum, 1e-5)
            : Functional.BatchNorm(ox, orm, orv, ow, ob, c.Training, c.Momentum, 1e-5);

        // Tolerances (OracleTolerance) per statistic group: a channel for BatchNorm, a (sample, channel) plane for InstanceNorm.
        double u = OracleTolerance.UnitRoundoff(c.UseDouble);
        double[] expected = OracleRunner.Values(ty), actual = OracleRunner.Values(oy);
        double[] rmBefore = rmBase, rvBefore = rvBase;
        int groups = c.Instance ? batch * channels : channels;
        long perGroup = c.Instance ? spatial : (long)batch * spatial;
        var groupMaxAbs = new double[channels];
        var groupVarU = new double[channels];
        for (int g = 0; g < groups; g++)
        {
            int[] indices = Members(g, c.Instance, batch, channels, spatial);
            int ch = g % channels;
            double mean = indices.Average(k => x[k]), varB = indices.Average(k => (x[k] - mean) * (x[k] - mean));
            double maxAbs = indices.Max(k => Math.Abs(x[k]));
            groupMaxAbs[ch] = Math.Max(groupMaxAbs[ch], maxAbs);
            groupVarU[ch] = Math.Max(groupVarU[ch], perGroup > 1 ? varB * perGroup / (perGroup - 1) : 0);
            bool batchStatistics = c.Training || trm is null;
            double centre = batchStatistics ? mean : rmBefore[c.Mean.Start + ch * c.Mean.Step];
            double spread = batchStatistics ? varB : rvBefore[c.Var.Start + ch * c.Var.Step];
            double invStd = 1 / Math.Sqrt(spread + 1e-5);
            double w = c.Weight.Present ? wBase[c.Weight.Start + ch * c.Weight.Step] : 1, b = c.Bias.Present ? bBase[c.Bias.Start + ch * c.Bias.Step] : 0;
            double tolerance = OracleTolerance.Output(u, perGroup, maxAbs, centre, invStd, w, b);
            double worst = indices.Max(k => Math.Abs(expected[k] - actual[k]));
            Assert.True(worst <= tolerance, $"output, group {g}: PyTorch and NormSharp differ by {worst:E3} > {tolerance:E3} ({c})");
            OracleReport.Shared.Observe("strided-argument output", c.UseDouble, worst, tolerance, c.ToString());
        }

        // The arrays behind the running statistics, whole: the views' elements within tolerance, the rest untouched.
        CompareBacking("running_mean", OracleRunner.Values(trmBase), rmMemory, c.Mean, channels,
                       ch => OracleTolerance.RunningMean(u, perGroup, groupMaxAbs[ch], rmBefore[c.Mean.Start + ch * c.Mean.Step]), c);
        CompareBacking("running_var", OracleRunner.Values(trvBase), rvMemory, c.Var, channels,
                       ch => OracleTolerance.RunningVar(u, perGroup, groupMaxAbs[ch], groupVarU[ch], rvBefore[c.Var.Start + ch * c.Var.Step]), c);
    }

    /// <summary>The array a view is taken from: its elements and, around and between them, other values of the same kind.</summary>
    private static double[] Backing(Random random, View view, int channels, double mean, double std, bool isDouble) =>
        OracleRunner.Normal(random, view.Present ? view.Start + (long)view.Step * channels + 2 : 1, mean, std, isDouble);

    private static int[] Members(int group, bool instance, int batch, int channels, int spatial) => instance
        ? Enumerable.Range(group * spatial, spatial).ToArray()
        : Enumerable.Range(0, batch).SelectMany(i => Enumerable.Range(((i * channels) + group) * spatial, spatial)).ToArray();

    private static void CompareBacking<T>(string name, double[] expected, T[] actual, View view, int channels, Func<int, double> tolerance, StridedCase c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!view.Present) return;
        for (int i = 0; i < expected.Length; i++)
        {
            double ours = double.CreateTruncating(actual[i]);
            bool element = i >= view.Start && (i - view.Start) % view.Step == 0 && (i - view.Start) / view.Step < channels;
            if (!element)
            {
                Assert.True(expected[i] == ours, $"{name}'s array at {i} (between the view's elements): PyTorch {expected[i]:R}, NormSharp {ours:R} ({c})");
                continue;
            }

            int ch = (i - view.Start) / view.Step;
            double error = double.IsNaN(expected[i]) && double.IsNaN(ours) ? 0 : Math.Abs(expected[i] - ours), bound = tolerance(ch);
            Assert.True(error <= bound, $"{name}[{ch}] (array element {i}): PyTorch {expected[i]:R}, NormSharp {ours:R}, tolerance {bound:E2} ({c})");
            OracleReport.Shared.Observe($"strided-argument {name}", c.UseDouble, error, bound, c.ToString());
        }
    }
}
