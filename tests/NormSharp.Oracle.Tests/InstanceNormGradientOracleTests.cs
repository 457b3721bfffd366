using System.Numerics;
using CsCheck;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// InstanceNorm's Backward against libtorch autograd: <c>y = F.instance_norm(x, ...)</c> with x, weight and bias
/// requiring grad, then <c>y.backward(dy)</c>, on random shapes, values and modes (input statistics, or running
/// statistics in evaluation), batched and unbatched; <c>Functional.InstanceNormBackward</c> on the same data must give the
/// layer's gradients bit for bit.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class InstanceNormGradientOracleTests
{
    public sealed record GradientCase(int Dims, bool UseDouble, long[] Shape, bool InputStatistics, bool Affine, bool Unbatched, double Mean, double Std, int Seed)
    {
        public override string ToString() =>
            $"InstanceNorm{Dims}d {(UseDouble ? "float64" : "float32")} [{string.Join(", ", Shape)}]{(Unbatched ? " unbatched" : "")} " +
            $"{(InputStatistics ? "input statistics" : "running statistics")} affine {Affine} ~ N({Mean}, {Std}^2) seed {Seed}";
    }

    private static readonly (double Mean, double Std)[] Distributions = [(0, 1), (3, 0.5), (-50, 20), (1e3, 1), (0, 1e3)];

    private static readonly Gen<GradientCase> Cases =
        from dims in Gen.Int[1, 3]
        from useDouble in Gen.Bool
        from n in Gen.Int[1, 5]
        from c in Gen.Frequency((4, Gen.Int[1, 6]), (1, Gen.Int[16, 24]))
        from spatial in Gen.Int[2, 7].Array[dims]
        from inputStatistics in Gen.Bool
        from affine in Gen.Bool
        from unbatched in Gen.Frequency((4, Gen.Const(false)), (1, Gen.Const(true)))
        from distribution in Gen.Int[0, Distributions.Length - 1]
        from seed in Gen.Int
        select new GradientCase(dims, useDouble, new long[] { unbatched ? 1 : n, c }.Concat(spatial.Select(s => (long)s)).ToArray(), inputStatistics,
                                affine, unbatched, Distributions[distribution].Mean, Distributions[distribution].Std, seed);

    [Fact]
    public void RandomCases_BackwardMatchesLibtorchAutograd()
    {
        Cases.Sample(c =>
        {
            if (c.UseDouble) Check<double>(c);
            else Check<float>(c);
        }, iter: 400);
    }

    private static void Check<T>(GradientCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var scope = torch.NewDisposeScope();
        var random = new Random(c.Seed);
        int batch = (int)c.Shape[0], channels = (int)c.Shape[1];
        long count = c.Shape.Aggregate(1L, (a, b) => a * b);
        int spatial = (int)(count / (batch * channels));
        var (x, dy, weight, bias, runningMean, runningVar) = OracleRunner.GradientInputs(random, count, channels, c.Mean, c.Std, c.UseDouble);

        // libtorch autograd.
        torch.Tensor tx = OracleRunner.TorchTensor(x, c.Shape, c.UseDouble).requires_grad_(true);
        torch.Tensor? tw = c.Affine ? OracleRunner.TorchTensor(weight, [channels], c.UseDouble).requires_grad_(true) : null;
        torch.Tensor? tb = c.Affine ? OracleRunner.TorchTensor(bias, [channels], c.UseDouble).requires_grad_(true) : null;
        torch.Tensor trm = OracleRunner.TorchTensor(runningMean, [channels], c.UseDouble);
        torch.Tensor trv = OracleRunner.TorchTensor(runningVar, [channels], c.UseDouble);
        torch.Tensor ty = torch.nn.functional.instance_norm(tx, trm, trv, tw, tb, c.InputStatistics, 0.1, 1e-5);
        ty.backward([OracleRunner.TorchTensor(dy, c.Shape, c.UseDouble)]);

        // NormSharp: a tracking layer; evaluation mode with tracking normalizes with the running statistics.
        NormBase<T> ours = c.Dims switch
        {
            1 => new InstanceNorm1d<T>(channels, affine: c.Affine, trackRunningStats: true),
            2 => new InstanceNorm2d<T>(channels, affine: c.Affine, trackRunningStats: true),
            _ => new InstanceNorm3d<T>(channels, affine: c.Affine, trackRunningStats: true),
        };
        if (c.Affine)
            for (int i = 0; i < channels; i++) { ours.Weight!.Data[i] = T.CreateTruncating(weight[i]); ours.Bias!.Data[i] = T.CreateTruncating(bias[i]); }
        for (int i = 0; i < channels; i++) { ours.RunningMean![i] = T.CreateTruncating(runningMean[i]); ours.RunningVar![i] = T.CreateTruncating(runningVar[i]); }
        ours.Train(c.InputStatistics);
        long[] ourShape = c.Unbatched ? c.Shape[1..] : c.Shape;
        ours.Forward(OracleRunner.NormTensor<T>(x, ourShape));
        double[] dx = OracleRunner.Values(ours.Backward(OracleRunner.NormTensor<T>(dy, ourShape)));

        // Functional.InstanceNormBackward on the batched shape is the layer's backward bit for bit, so libtorch checks it too.
        BatchNormGradients<T> functional = Functional.InstanceNormBackward(OracleRunner.NormTensor<T>(dy, c.Shape), OracleRunner.NormTensor<T>(x, c.Shape),
                                                                           ours.Weight?.Data, ours.RunningMean, ours.RunningVar, c.InputStatistics, 1e-5);
        Assert.Equal(dx, OracleRunner.Values(functional.Input!));
        if (c.Affine)
        {
            Assert.Equal(OracleRunner.Values(ours.Weight!.Grad!), OracleRunner.Values(functional.Weight!));
            Assert.Equal(OracleRunner.Values(ours.Bias!.Grad!), OracleRunner.Values(functional.Bias!));
        }

        double u = OracleTolerance.UnitRoundoff(c.UseDouble);
        double[] expectedDx = OracleRunner.Values(tx.grad!);
        double[] expectedDw = c.Affine ? OracleRunner.Values(tw!.grad!) : [], expectedDb = c.Affine ? OracleRunner.Values(tb!.grad!) : [];
        double[] ourDw = c.Affine ? OracleRunner.Values(ours.Weight!.Grad!) : [], ourDb = c.Affine ? OracleRunner.Values(ours.Bias!.Grad!) : [];
        var worstFactor = new double[channels];
        var worstDy = new double[channels];
        for (int plane = 0; plane < batch * channels; plane++)
        {
            int ch = plane % channels;
            var indices = Enumerable.Range(plane * spatial, spatial).ToArray();
            double mean = c.InputStatistics ? indices.Average(k => x[k]) : runningMean[ch];
            double variance = c.InputStatistics ? indices.Average(k => (x[k] - mean) * (x[k] - mean)) : runningVar[ch];
            double invStd = 1 / Math.Sqrt(variance + 1e-5);
            double maxAbsX = indices.Max(k => Math.Abs(x[k])), maxDy = indices.Max(k => Math.Abs(dy[k]));
            double maxXhat = indices.Max(k => Math.Abs(x[k] - mean)) * invStd;
            double conditioning = 1 + (maxAbsX + Math.Abs(mean)) * invStd;
            double dxTolerance = OracleTolerance.InputGradient(u, spatial, invStd, c.Affine ? Math.Abs(weight[ch]) : 1, maxDy, maxXhat, conditioning);
            double worst = indices.Max(k => Math.Abs(expectedDx[k] - dx[k]));
            Assert.True(worst <= dxTolerance, $"dx, plane {plane}: worst {worst:E3} > {dxTolerance:E3} ({c})");
            OracleReport.Shared.Observe("InstanceNorm dx", c.UseDouble, worst, dxTolerance, c.ToString());
            worstFactor[ch] = Math.Max(worstFactor[ch], maxXhat * conditioning);
            worstDy[ch] = Math.Max(worstDy[ch], maxDy);
        }

        if (!c.Affine) return;
        long perChannel = (long)batch * spatial;
        for (int ch = 0; ch < channels; ch++)
        {
            double dwTolerance = OracleTolerance.ParameterGradient(u, perChannel, worstDy[ch], worstFactor[ch]);
            double dwError = Math.Abs(expectedDw[ch] - ourDw[ch]);
            Assert.True(dwError <= dwTolerance, $"dweight[{ch}]: {dwError:E3} > {dwTolerance:E3} ({c})");
            OracleReport.Shared.Observe("InstanceNorm dweight", c.UseDouble, dwError, dwTolerance, c.ToString());
            double dbTolerance = OracleTolerance.ParameterGradient(u, perChannel, worstDy[ch], 1);
            double dbError = Math.Abs(expectedDb[ch] - ourDb[ch]);
            Assert.True(dbError <= dbTolerance, $"dbias[{ch}]: {dbError:E3} > {dbTolerance:E3} ({c})");
            OracleReport.Shared.Observe("InstanceNorm dbias", c.UseDouble, dbError, dbTolerance, c.ToString());
        }
    }
}
