using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CsCheck;
using NormSharp.Oracle.Tests.Reference;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// Mixed precision against libtorch's CPU float16 and bfloat16 batch norm (its <c>mixed_type</c> path): a float32 module
/// (PyTorch's module logic over <c>F.batch_norm</c> / <c>F.instance_norm</c>, float32 weight, bias and running statistics)
/// called on a float16 or bfloat16 input, then <c>y.backward(dy)</c> in the same type; NormSharp's float32 layer through
/// <see cref="MixedPrecision"/>. Random shapes, layouts, flags, momenta and distributions, three forward-backward steps each
/// (training, training, evaluation). Output, dx, running statistics, counter and parameter gradients are compared.
/// </summary>
/// <remarks>
/// <para>Tolerances (<see cref="OutputTolerance"/>): both sides compute in float32 on the same 16-bit values and round the
/// result once, so the float32 bounds of <see cref="OracleTolerance"/> (u = 2^-24) hold before the rounding (they already cover
/// libtorch's float accumulation of the statistics, which its mixed path uses for every layout). Rounding to the nearest
/// 16-bit value moves each side by at most half a 16-bit spacing, so the two outputs may differ by the float32 bound plus
/// one spacing at the output's magnitude, at most 2·u16·|y| (u16 = 2^-11 for float16, 2^-8 for bfloat16), plus the smallest
/// subnormal spacing. Running statistics and parameter gradients are float32 on both sides: the float32 bounds as they are.
/// The inputs are rounded to the 16-bit type first, so both sides see the same values.</para>
/// </remarks>
[Collection(OracleTestGroup.Name)]
public class MixedPrecisionOracleTests
{
    public sealed record MixedCase(bool Instance, int Rank, bool BFloat16, long[] Shape, bool Affine, bool Track, double? Momentum,
                                   bool ChannelsLast, double Mean, double Std, int Seed)
    {
        public string Dtype => BFloat16 ? "bfloat16" : "float16";

        public override string ToString() =>
            $"{(Instance ? "InstanceNorm" : "BatchNorm")} rank {Rank} {Dtype} [{string.Join(", ", Shape)}]{(ChannelsLast ? " channels-last" : "")} " +
            $"affine {Affine} track {Track} momentum {(Momentum is double m ? m.ToString(System.Globalization.CultureInfo.InvariantCulture) : "null")} " +
            $"~ N({Mean}, {Std}^2) seed {Seed}";
    }

    private static readonly (double Mean, double Std)[] Distributions = [(0, 1), (3, 0.5), (-50, 20), (200, 1), (0, 100)];

    private static readonly Gen<MixedCase> Cases =
        from instance in Gen.Bool
        from rank in instance ? Gen.Int[3, 5] : Gen.Int[2, 5]
        from bfloat16 in Gen.Bool
        from n in Gen.Int[2, 9]
        from c in Gen.Frequency((4, Gen.Int[1, 6]), (1, Gen.Int[20, 48]))
        from spatial in Gen.Frequency((6, Gen.Int[1, 7].Array[rank - 2]), (1, Gen.Int[250, 2600].Select(s => new[] { s }.Concat(Enumerable.Repeat(1, Math.Max(0, rank - 3))).ToArray())))
        from affine in Gen.Bool
        from track in Gen.Bool
        from momentum in Gen.Int[0, 2].Select(i => i switch { 0 => 0.1, 1 => 0.5, _ => (double?)null })
        from channelsLast in Gen.Bool
        from distribution in Gen.Int[0, Distributions.Length - 1]
        from seed in Gen.Int
        select new MixedCase(instance, rank, bfloat16,
                             new long[] { n, c }.Concat(spatial.Take(rank - 2).Select(s => (long)s)).ToArray(), affine, track, momentum,
                             channelsLast && !instance && rank >= 4, Distributions[distribution].Mean, Distributions[distribution].Std, seed);

    [Fact]
    public void RandomCases_Float16AndBFloat16Input_MatchLibtorchsMixedPrecisionBatchNorm()
    {
        Cases.Where(c => c.Shape.Aggregate(1L, (a, b) => a * b) <= 60_000
                         && (c.Instance ? c.Shape.Skip(2).Aggregate(1L, (a, b) => a * b) > 1 : c.Shape[0] * c.Shape.Skip(2).Aggregate(1L, (a, b) => a * b) > 1))
             .Sample(c =>
             {
                 if (c.BFloat16) Check<BFloat16>(c);
                 else Check<Half>(c);
             }, iter: 400);
    }

    private static void Check<TStorage>(MixedCase c) where TStorage : unmanaged
    {
        using var scope = torch.NewDisposeScope();
        var random = new Random(c.Seed);
        int channels = (int)c.Shape[1], batch = (int)c.Shape[0];
        long count = c.Shape.Aggregate(1L, (a, b) => a * b);
        int spatial = (int)(count / batch / channels);
        torch.ScalarType dtype = c.BFloat16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float16;
        double u = Math.Pow(2, -24), u16 = c.BFloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11), tiny16 = c.BFloat16 ? 1e-38 : Math.Pow(2, -24);

        NormBase<float> ours = c.Instance
            ? c.Rank switch
            {
                3 => new InstanceNorm1d(channels, 1e-5, c.Momentum, c.Affine, c.Track),
                4 => new InstanceNorm2d(channels, 1e-5, c.Momentum, c.Affine, c.Track),
                _ => new InstanceNorm3d(channels, 1e-5, c.Momentum, c.Affine, c.Track),
            }
            : OracleRunner.CreateLayer<float>(c.Rank, channels, 1e-5, c.Momentum, c.Affine, c.Track);
        PyTorchNormBase reference = c.Instance
            ? new PyTorchInstanceNorm(c.Rank - 1, channels, 1e-5, c.Momentum, c.Affine, c.Track, torch.ScalarType.Float32)
            : OracleRunner.CreateReference(c.Rank, channels, 1e-5, c.Momentum, c.Affine, c.Track, isDouble: false);
        double[] weight = Enumerable.Repeat(1.0, channels).ToArray(), bias = new double[channels];
        if (c.Affine)
        {
            weight = OracleRunner.Normal(random, channels, 1, 0.5, isDouble: false);
            bias = OracleRunner.Normal(random, channels, 0, 1, isDouble: false);
            reference.Weight!.copy_(OracleRunner.TorchTensor(weight, [channels], false));
            reference.Bias!.copy_(OracleRunner.TorchTensor(bias, [channels], false));
            reference.Weight.requires_grad_(true);
            reference.Bias.requires_grad_(true);
            for (int i = 0; i < channels; i++)
            {
                ours.Weight!.Data[i] = (float)weight[i];
                ours.Bias!.Data[i] = (float)bias[i];
            }
        }

        // Running statistics move by contractions: an error made at one step stays bounded by that step's tolerance. The
        // parameter gradients accumulate, and so do their tolerances.
        var carriedMean = new double[channels];
        var carriedVar = new double[channels];
        var gradWeightTolerance = new double[channels];
        var gradBiasTolerance = new double[channels];
        for (int step = 0; step < 3; step++)
        {
            string where = $"step {step + 1} of {c}";
            if (step == 2)
            {
                ours.Eval();
                reference.Training = false;
            }

            double[] runningMeanBefore = reference.RunningMean is null ? [] : OracleRunner.Values(reference.RunningMean);
            double[] runningVarBefore = reference.RunningVar is null ? [] : OracleRunner.Values(reference.RunningVar);
            double[] x = Rounded<TStorage>(OracleRunner.Normal(random, count, c.Mean + step, c.Std, isDouble: false));
            double[] dy = Rounded<TStorage>(OracleRunner.Normal(random, count, 0, 1, isDouble: false));

            torch.Tensor tx = OracleRunner.TorchTensor(x, c.Shape, false).to_type(dtype).requires_grad_(true);
            torch.Tensor ty = reference.Forward(tx);
            Assert.Equal(dtype, ty.dtype);
            ty.backward([OracleRunner.TorchTensor(dy, c.Shape, false).to_type(dtype)]);
            double[] expectedY = OracleRunner.Values(ty), expectedDx = OracleRunner.Values(tx.grad!);

            double[] y = Values(ForwardMixed(ours, Stored<TStorage>(x, c.Shape, c.ChannelsLast)));
            double[] dx = Values(BackwardMixed(ours, Stored<TStorage>(dy, c.Shape, c.ChannelsLast)));

            // Per group (a channel for BatchNorm, a (sample, channel) plane for InstanceNorm): its values and statistics.
            bool batchStatistics = step < 2 || !c.Track;
            // Without any float32 tensor (no affine parameters, no running statistics) ATen runs the op in the input's type:
            // both sides round the mean, the sum of squared deviations and invStd to it, and each rounding may go either way
            // on values that differ by the float32 bound: one 16-bit spacing of the mean (|mean|·invStd·|w| in the output) and
            // of invStd (|x̂·w|, and the variance's rounding half of that again).
            bool statisticsInInputType = !c.Affine && !c.Track;
            int groups = c.Instance ? batch * channels : channels, groupSize = c.Instance ? spatial : batch * spatial;
            for (int g = 0; g < groups; g++)
            {
                int ch = g % channels;
                int[] indices = c.Instance
                    ? Enumerable.Range(g * spatial, spatial).ToArray()
                    : Enumerable.Range(0, batch).SelectMany(i => Enumerable.Range((i * channels + ch) * spatial, spatial)).ToArray();
                double mean = indices.Average(k => x[k]), variance = indices.Average(k => (x[k] - mean) * (x[k] - mean));
                bool runningNormalizes = !batchStatistics && runningMeanBefore.Length > 0;
                double centre = runningNormalizes ? runningMeanBefore[ch] : mean;
                double spread = runningNormalizes ? runningVarBefore[ch] : variance;
                double invStd = 1 / Math.Sqrt(spread + 1e-5);
                double maxAbsX = indices.Max(k => Math.Abs(x[k])), maxDy = indices.Max(k => Math.Abs(dy[k]));
                double w = weight[ch], floatBound = OracleTolerance.Output(u, groupSize, maxAbsX, centre, invStd, w, bias[ch]);
                if (statisticsInInputType) floatBound += 2 * u16 * (maxAbsX + 3 * Math.Abs(centre)) * invStd * Math.Abs(w);
                if (runningNormalizes)
                    floatBound += carriedMean[ch] * invStd * Math.Abs(w) + (maxAbsX + Math.Abs(centre)) * invStd * Math.Abs(w) * carriedVar[ch] / (2 * (spread + 1e-5));
                // Reported in 16-bit spacings at the group's output scale (its largest |y|): near 0 a float32-sized difference
                // is many spacings of the value itself.
                double worst = 0, worstShare = 0, worstSpacings = 0, yScale = indices.Max(k => Math.Abs(expectedY[k]));
                foreach (int k in indices)
                {
                    double error = Math.Abs(expectedY[k] - y[k]), tolerance = OutputTolerance(floatBound, u16, tiny16, expectedY[k], y[k]);
                    Assert.True(error <= tolerance, $"output element {k} (group {g}): torch {expectedY[k]:R}, ours {y[k]:R}, error {error:E3} > {tolerance:E3} ({where})");
                    worst = Math.Max(worst, error);
                    worstShare = Math.Max(worstShare, error / tolerance);
                    worstSpacings = Math.Max(worstSpacings, error / Spacing(yScale, c.BFloat16));
                }

                OracleReport.Shared.Observe("mixed-precision output", c.Dtype, worst, worst / Math.Max(worstShare, 1e-300), where);
                OracleReport.Shared.Observe(statisticsInInputType ? "output in 16-bit spacings of its scale, no float32 tensor" : "output in 16-bit spacings of its scale",
                                            c.Dtype, worstSpacings, 0, where);

                double maxXhat = indices.Max(k => Math.Abs(x[k] - centre)) * invStd, conditioning = 1 + (maxAbsX + Math.Abs(centre)) * invStd;
                double dxBound = OracleTolerance.InputGradient(u, groupSize, invStd, Math.Abs(w), maxDy, maxXhat, conditioning);
                if (statisticsInInputType) dxBound += 8 * u16 * conditioning * invStd * Math.Abs(w) * maxDy * (1 + maxXhat * maxXhat);
                // dx's scale is w·invStd·max|dy| (dx itself can be all cancellation, e.g. for two values per group).
                double worstDx = 0, worstDxShare = 0, worstDxSpacings = 0, dxScale = Math.Abs(w) * invStd * maxDy;
                foreach (int k in indices)
                {
                    double error = Math.Abs(expectedDx[k] - dx[k]), tolerance = OutputTolerance(dxBound, u16, tiny16, expectedDx[k], dx[k]);
                    Assert.True(error <= tolerance, $"dx element {k} (group {g}): torch {expectedDx[k]:R}, ours {dx[k]:R}, error {error:E3} > {tolerance:E3} ({where})");
                    worstDx = Math.Max(worstDx, error);
                    worstDxShare = Math.Max(worstDxShare, error / tolerance);
                    worstDxSpacings = Math.Max(worstDxSpacings, error / Spacing(dxScale, c.BFloat16));
                }

                OracleReport.Shared.Observe("mixed-precision dx", c.Dtype, worstDx, worstDx / Math.Max(worstDxShare, 1e-300), where);
                OracleReport.Shared.Observe(statisticsInInputType ? "dx in 16-bit spacings of its scale, no float32 tensor" : "dx in 16-bit spacings of its scale",
                                            c.Dtype, worstDxSpacings, 0, where);
                gradWeightTolerance[ch] += OracleTolerance.ParameterGradient(u, groupSize, maxDy, maxXhat * conditioning);
                gradBiasTolerance[ch] += OracleTolerance.ParameterGradient(u, groupSize, maxDy, 1);

                if (batchStatistics && runningMeanBefore.Length > 0 && (c.Instance || c.Track))
                {
                    double unbiased = variance * groupSize / Math.Max(1, groupSize - 1);
                    carriedMean[ch] = Math.Max(carriedMean[ch], OracleTolerance.RunningMean(u, groupSize, maxAbsX, runningMeanBefore[ch]));
                    carriedVar[ch] = Math.Max(carriedVar[ch], OracleTolerance.RunningVar(u, groupSize, maxAbsX, unbiased, runningVarBefore[ch]));
                }
            }

            // Running statistics (float32 on both sides) and the counter.
            Assert.Equal(reference.RunningMean is null, ours.RunningMean is null);
            if (reference.RunningMean is not null)
            {
                double[] expectedMean = OracleRunner.Values(reference.RunningMean), expectedVar = OracleRunner.Values(reference.RunningVar!);
                double[] actualMean = OracleRunner.Values(ours.RunningMean!), actualVar = OracleRunner.Values(ours.RunningVar!);
                for (int ch = 0; ch < channels; ch++)
                {
                    double meanError = Math.Abs(expectedMean[ch] - actualMean[ch]), varError = Math.Abs(expectedVar[ch] - actualVar[ch]);
                    Assert.True(meanError <= carriedMean[ch], $"running_mean[{ch}]: {meanError:E3} > {carriedMean[ch]:E3} ({where})");
                    Assert.True(varError <= carriedVar[ch], $"running_var[{ch}]: {varError:E3} > {carriedVar[ch]:E3} ({where})");
                    OracleReport.Shared.Observe("mixed-precision running_mean", c.Dtype, meanError, carriedMean[ch], where);
                    OracleReport.Shared.Observe("mixed-precision running_var", c.Dtype, varError, carriedVar[ch], where);
                }
            }

            Assert.Equal(reference.NumBatchesTracked?.item<long>(), ours.NumBatchesTracked);
            if (!c.Affine) continue;
            Assert.Equal(torch.ScalarType.Float32, reference.Weight!.grad!.dtype);
            double[] expectedGradWeight = OracleRunner.Values(reference.Weight.grad!), expectedGradBias = OracleRunner.Values(reference.Bias!.grad!);
            double[] gradWeight = OracleRunner.Values(ours.Weight!.Grad!), gradBias = OracleRunner.Values(ours.Bias!.Grad!);
            for (int ch = 0; ch < channels; ch++)
            {
                double weightError = Math.Abs(expectedGradWeight[ch] - gradWeight[ch]), biasError = Math.Abs(expectedGradBias[ch] - gradBias[ch]);
                Assert.True(weightError <= gradWeightTolerance[ch], $"dweight[{ch}]: {weightError:E3} > {gradWeightTolerance[ch]:E3} ({where})");
                Assert.True(biasError <= gradBiasTolerance[ch], $"dbias[{ch}]: {biasError:E3} > {gradBiasTolerance[ch]:E3} ({where})");
                OracleReport.Shared.Observe("mixed-precision dweight", c.Dtype, weightError, gradWeightTolerance[ch], where);
                OracleReport.Shared.Observe("mixed-precision dbias", c.Dtype, biasError, gradBiasTolerance[ch], where);
            }
        }
    }

    /// <summary>
    /// Bound on |ours - libtorch| for a 16-bit result: the float32 bound of the computation before rounding, plus one 16-bit
    /// spacing at the larger of the two magnitudes (each side's rounding moves it by at most half a spacing, and a spacing
    /// is at most 2·u16·|v|), plus the smallest subnormal spacing.
    /// </summary>
    public static double OutputTolerance(double floatBound, double u16, double tiny16, double expected, double actual) =>
        floatBound + 2 * u16 * (Math.Max(Math.Abs(expected), Math.Abs(actual)) + floatBound) + tiny16;

    /// <summary>The distance between consecutive float16 (bfloat16) values at magnitude <paramref name="magnitude"/> (the
    /// subnormal spacing below the normal range).</summary>
    private static double Spacing(double magnitude, bool bfloat16)
    {
        int significandBits = bfloat16 ? 8 : 11;
        double smallestNormal = bfloat16 ? Math.Pow(2, -126) : Math.Pow(2, -14);
        double exponent = Math.Floor(Math.Log2(Math.Max(magnitude, smallestNormal)));
        return Math.Pow(2, exponent - (significandBits - 1));
    }

    [Fact]
    public void FunctionalOps_Float16AndBFloat16_MatchLibtorch()
    {
        foreach (var (dtype, bfloat16) in new[] { (torch.ScalarType.Float16, false), (torch.ScalarType.BFloat16, true) })
        {
            using var scope = torch.NewDisposeScope();
            var random = new Random(bfloat16 ? 2 : 1);
            long[] shape = [6, 4, 9, 7];
            double[] x = bfloat16 ? Rounded<BFloat16>(OracleRunner.Normal(random, 6 * 4 * 63, 5, 2, false)) : Rounded<Half>(OracleRunner.Normal(random, 6 * 4 * 63, 5, 2, false));
            double[] rm = OracleRunner.Normal(random, 4, 5, 1, false), rv = OracleRunner.Normal(random, 4, 4, 1, false).Select(v => Math.Abs(v)).ToArray();
            double[] w = OracleRunner.Normal(random, 4, 1, 0.5, false), b = OracleRunner.Normal(random, 4, 0, 1, false);
            double u16 = bfloat16 ? Math.Pow(2, -8) : Math.Pow(2, -11);
            foreach (bool training in new[] { true, false })
                foreach (bool instance in new[] { false, true })
                {
                    torch.Tensor trm = OracleRunner.TorchTensor(rm, [4], false), trv = OracleRunner.TorchTensor(rv, [4], false);
                    torch.Tensor tx = OracleRunner.TorchTensor(x, shape, false).to_type(dtype);
                    torch.Tensor ty = instance
                        ? torch.nn.functional.instance_norm(tx, trm, trv, OracleRunner.TorchTensor(w, [4], false), OracleRunner.TorchTensor(b, [4], false), training, 0.2, 1e-5)
                        : torch.nn.functional.batch_norm(tx, trm, trv, OracleRunner.TorchTensor(w, [4], false), OracleRunner.TorchTensor(b, [4], false), training, 0.2, 1e-5);
                    Tensor<float> orm = Floats(rm), orv = Floats(rv), ow = Floats(w), ob = Floats(b);
                    double[] y = bfloat16
                        ? Values(instance ? Functional.InstanceNorm(Stored<BFloat16>(x, shape, false), orm, orv, ow, ob, training, 0.2, 1e-5)
                                          : Functional.BatchNorm(Stored<BFloat16>(x, shape, false), orm, orv, ow, ob, training, 0.2, 1e-5))
                        : Values(instance ? Functional.InstanceNorm(Stored<Half>(x, shape, false), orm, orv, ow, ob, training, 0.2, 1e-5)
                                          : Functional.BatchNorm(Stored<Half>(x, shape, false), orm, orv, ow, ob, training, 0.2, 1e-5));
                    double[] expected = OracleRunner.Values(ty);
                    string where = $"{dtype} {(instance ? "instance_norm" : "batch_norm")} training {training}";
                    // Values around 5 ± 2 normalized: |y| ≲ 5, the float32 bound is far below one 16-bit spacing.
                    for (int k = 0; k < y.Length; k++)
                        Assert.True(Math.Abs(expected[k] - y[k]) <= OutputTolerance(1e-4, u16, 0, expected[k], y[k]), $"{where}, element {k}: {expected[k]:R} vs {y[k]:R}");
                    double[] meanExpected = OracleRunner.Values(trm), meanActual = OracleRunner.Values(orm);
                    for (int ch = 0; ch < 4; ch++) Assert.True(Math.Abs(meanExpected[ch] - meanActual[ch]) <= 1e-5, $"{where}, running_mean[{ch}]");
                }
        }
    }

    private static Tensor<TStorage> ForwardMixed<TStorage>(NormBase<float> layer, Tensor<TStorage> x) where TStorage : unmanaged =>
        x is Tensor<Half> h ? (Tensor<TStorage>)(object)layer.Forward(h) : (Tensor<TStorage>)(object)layer.Forward((Tensor<BFloat16>)(object)x);

    private static Tensor<TStorage> BackwardMixed<TStorage>(NormBase<float> layer, Tensor<TStorage> dy) where TStorage : unmanaged =>
        dy is Tensor<Half> h ? (Tensor<TStorage>)(object)layer.Backward(h) : (Tensor<TStorage>)(object)layer.Backward((Tensor<BFloat16>)(object)dy);

    private static Tensor<float> Floats(double[] values) => Tensor.Create(values.Select(v => (float)v).ToArray(), [values.Length]);

    /// <summary>The values rounded to TStorage (exactly representable afterwards, in float, double and TStorage).</summary>
    private static double[] Rounded<TStorage>(double[] values) where TStorage : unmanaged =>
        values.Select(v => typeof(TStorage) == typeof(Half) ? (double)(float)(Half)(float)v : (double)(float)(BFloat16)(float)v).ToArray();

    /// <summary>The values as a TStorage tensor, row-major or channels-last (the same logical tensor).</summary>
    private static Tensor<TStorage> Stored<TStorage>(double[] values, long[] shape, bool channelsLast) where TStorage : unmanaged
    {
        Tensor<float> floats = OracleRunner.NormTensor<float>(values, shape, channelsLast);
        float[] memory = MemoryMarshal.CreateReadOnlySpan(ref floats.AsTensorSpan().GetPinnableReference(), (int)floats.FlattenedLength).ToArray();
        TStorage[] stored = memory.Select(v => typeof(TStorage) == typeof(Half) ? (TStorage)(object)(Half)v : (TStorage)(object)(BFloat16)v).ToArray();
        return Tensor.Create(stored, floats.Lengths, floats.Strides);
    }

    private static double[] Values<TStorage>(Tensor<TStorage> tensor) where TStorage : unmanaged
    {
        var flat = new TStorage[tensor.FlattenedLength];
        tensor.FlattenTo(flat);
        return flat.Select(v => v switch { Half h => (double)(float)h, BFloat16 b => (double)(float)b, _ => throw new NotSupportedException() }).ToArray();
    }
}
