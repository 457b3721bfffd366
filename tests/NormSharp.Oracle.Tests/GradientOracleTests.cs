using System.Numerics;
using CsCheck;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// NormSharp's Backward against libtorch autograd: <c>y = F.batch_norm(x, ...)</c> with x, weight and bias
/// requiring grad, then <c>y.backward(dy)</c>, on random shapes, values and modes.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class GradientOracleTests
{
    public enum Mode { Train, EvalWithRunningStatistics, EvalWithoutBuffers }

    public sealed record GradientCase(int Rank, bool UseDouble, long[] Shape, Mode Mode, bool Affine, double Mean, double Std, int Seed)
    {
        public override string ToString() =>
            $"rank {Rank} {(UseDouble ? "float64" : "float32")} [{string.Join(", ", Shape)}] {Mode} affine {Affine} ~ N({Mean}, {Std}^2) seed {Seed}";
    }

    private static readonly (double Mean, double Std)[] Distributions = [(0, 1), (3, 0.5), (-50, 20), (1e3, 1), (0, 1e3)];

    private static readonly Gen<GradientCase> Cases =
        from rank in Gen.Int[2, 5]
        from useDouble in Gen.Bool
        from n in Gen.Int[2, 9]
        from c in Gen.Frequency((4, Gen.Int[1, 6]), (1, Gen.Int[20, 48]))
        from spatial in Gen.Int[1, 6].Array[rank - 2]
        from mode in Gen.Enum<Mode>()
        from affine in Gen.Bool
        from distribution in Gen.Int[0, Distributions.Length - 1]
        from seed in Gen.Int
        select new GradientCase(rank, useDouble, new long[] { n, c }.Concat(spatial.Select(s => (long)s)).ToArray(), mode, affine,
                                Distributions[distribution].Mean, Distributions[distribution].Std, seed);

    [Fact]
    public void RandomCases_BackwardMatchesLibtorchAutograd()
    {
        Cases.Sample(c =>
        {
            if (c.UseDouble) Check<double>(c);
            else Check<float>(c);
        }, iter: 600);
    }

    private static void Check<T>(GradientCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var scope = torch.NewDisposeScope();
        var random = new Random(c.Seed);
        int channels = (int)c.Shape[1];
        long count = c.Shape.Aggregate(1L, (a, b) => a * b);
        long n = count / channels;
        var (x, dy, weight, bias, runningMean, runningVar) = OracleRunner.GradientInputs(random, count, channels, c.Mean, c.Std, c.UseDouble);

        // libtorch autograd.
        torch.Tensor tx = OracleRunner.TorchTensor(x, c.Shape, c.UseDouble).requires_grad_(true);
        torch.Tensor? tw = c.Affine ? OracleRunner.TorchTensor(weight, [channels], c.UseDouble).requires_grad_(true) : null;
        torch.Tensor? tb = c.Affine ? OracleRunner.TorchTensor(bias, [channels], c.UseDouble).requires_grad_(true) : null;
        bool buffers = c.Mode != Mode.EvalWithoutBuffers;
        torch.Tensor? trm = buffers ? OracleRunner.TorchTensor(runningMean, [channels], c.UseDouble) : null;
        torch.Tensor? trv = buffers ? OracleRunner.TorchTensor(runningVar, [channels], c.UseDouble) : null;
        bool batchStatistics = c.Mode != Mode.EvalWithRunningStatistics;
        torch.Tensor ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, batchStatistics, 0.1, 1e-5);
        ty.backward([OracleRunner.TorchTensor(dy, c.Shape, c.UseDouble)]);

        // NormSharp.
        BatchNorm<T> ours = OracleRunner.CreateLayer<T>(c.Rank, channels, 1e-5, 0.1, c.Affine, buffers);
        if (c.Affine)
            for (int i = 0; i < channels; i++) { ours.Weight!.Data[i] = T.CreateTruncating(weight[i]); ours.Bias!.Data[i] = T.CreateTruncating(bias[i]); }
        if (buffers)
            for (int i = 0; i < channels; i++) { ours.RunningMean![i] = T.CreateTruncating(runningMean[i]); ours.RunningVar![i] = T.CreateTruncating(runningVar[i]); }
        ours.Train(c.Mode == Mode.Train);
        ours.Forward(OracleRunner.NormTensor<T>(x, c.Shape));
        double[] dx = OracleRunner.Values(ours.Backward(OracleRunner.NormTensor<T>(dy, c.Shape)));

        double u = OracleTolerance.UnitRoundoff(c.UseDouble);
        double[] expectedDx = OracleRunner.Values(tx.grad!);
        int spatial = (int)(n / c.Shape[0]);
        for (int ch = 0; ch < channels; ch++)
        {
            var indices = Enumerable.Range(0, (int)c.Shape[0]).SelectMany(i => Enumerable.Range((i * channels + ch) * spatial, spatial)).ToArray();
            double mean = batchStatistics ? indices.Average(k => x[k]) : runningMean[ch];
            double variance = batchStatistics ? indices.Average(k => (x[k] - mean) * (x[k] - mean)) : runningVar[ch];
            double invStd = 1 / Math.Sqrt(variance + 1e-5);
            double maxAbsX = indices.Max(k => Math.Abs(x[k])), maxDy = indices.Max(k => Math.Abs(dy[k]));
            double maxXhat = indices.Max(k => Math.Abs(x[k] - mean)) * invStd;
            double w = c.Affine ? Math.Abs(weight[ch]) : 1;
            double conditioning = 1 + (maxAbsX + Math.Abs(mean)) * invStd;
            double dxTolerance = OracleTolerance.InputGradient(u, n, invStd, w, maxDy, maxXhat, conditioning);
            double worst = indices.Max(k => Math.Abs(expectedDx[k] - dx[k]));
            Assert.True(worst <= dxTolerance, $"dx, channel {ch}: worst {worst:E3} > {dxTolerance:E3} ({c})");
            OracleReport.Shared.Observe("dx", c.UseDouble, worst, dxTolerance, c.ToString());

            if (!c.Affine) continue;
            double dwTolerance = OracleTolerance.ParameterGradient(u, n, maxDy, maxXhat * conditioning);
            double dwError = Math.Abs(OracleRunner.Values(tw!.grad!)[ch] - OracleRunner.Values(ours.Weight!.Grad!)[ch]);
            Assert.True(dwError <= dwTolerance, $"dweight[{ch}]: {dwError:E3} > {dwTolerance:E3} ({c})");
            OracleReport.Shared.Observe("dweight", c.UseDouble, dwError, dwTolerance, c.ToString());
            double dbTolerance = OracleTolerance.ParameterGradient(u, n, maxDy, 1);
            double dbError = Math.Abs(OracleRunner.Values(tb!.grad!)[ch] - OracleRunner.Values(ours.Bias!.Grad!)[ch]);
            Assert.True(dbError <= dbTolerance, $"dbias[{ch}]: {dbError:E3} > {dbTolerance:E3} ({c})");
            OracleReport.Shared.Observe("dbias", c.UseDouble, dbError, dbTolerance, c.ToString());
        }

        Assert.Equal(c.Affine, ours.Weight is not null);
    }
}
