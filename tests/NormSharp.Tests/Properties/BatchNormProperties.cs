using CsCheck;
using NormSharp.Tests.Reference;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Properties;

/// <summary>Invariants that hold for every input, checked on random cases (CsCheck prints the seed of a failure).</summary>
public class BatchNormProperties
{
    [Fact]
    public void Training_OutputPerChannel_HasMeanZeroAndBiasedVarianceOne()
    {
        NormCase.Gen.Sample(testCase =>
        {
            var (n, c, s) = (testCase.N, testCase.C, testCase.S);
            double[] y = Values(testCase.Layer<double>(affine: false).Forward(testCase.Doubles()));
            var (mean, varB, _) = NaiveBatchNorm.Statistics(y, n, c, s);
            var (_, inputVar, _) = NaiveBatchNorm.Statistics(testCase.Values, n, c, s);
            for (int ch = 0; ch < c; ch++)
            {
                Assert.True(Math.Abs(mean[ch]) < 1e-9, $"mean {mean[ch]}");
                // eps shrinks the variance to var/(var+eps).
                double expected = inputVar[ch] / (inputVar[ch] + 1e-5);
                Assert.True(Math.Abs(varB[ch] - expected) < 1e-9, $"var {varB[ch]} expected {expected}");
            }
        }, iter: 200);
    }

    [Fact]
    public void Training_FloatAndDouble_MatchTheNaiveReference()
    {
        NormCase.Gen.Sample(testCase =>
        {
            var (n, c, s) = (testCase.N, testCase.C, testCase.S);
            var (mean, varB, _) = NaiveBatchNorm.Statistics(testCase.Values, n, c, s);
            double[] expected = NaiveBatchNorm.Normalize(testCase.Values, n, c, s, mean, varB, 1e-5);
            AllClose(expected, Values(testCase.Layer<double>().Forward(testCase.Doubles())), 1e-10);

            // Float input: the values themselves are rounded to float, so compare with the reference on those values.
            // The folded y = fma(x, alpha, beta) rounds beta = -mean * alpha to float, as libtorch does: an error of
            // about 2^-24 * |mean| * invStd, which is large for a nearly constant channel (invStd up to 1/sqrt(eps)).
            double[] rounded = Values(testCase.Floats());
            var (fm, fv, _) = NaiveBatchNorm.Statistics(rounded, n, c, s);
            double[] expectedFloat = NaiveBatchNorm.Normalize(rounded, n, c, s, fm, fv, 1e-5);
            double foldError = Enumerable.Range(0, c).Max(ch => (Math.Abs(fm[ch]) + Math.Sqrt(fv[ch])) / Math.Sqrt(fv[ch] + 1e-5));
            AllClose(expectedFloat, Values(testCase.Layer<float>().Forward(testCase.Floats())), 1e-5 + 2.4e-7 * foldError, 1e-6);
        }, iter: 200);
    }

    [Fact]
    public void Training_RunningStatistics_FollowTheEmaFormula()
    {
        Gen.Select(NormCase.Gen, Gen.Double[0, 1]).Sample((testCase, momentum) =>
        {
            var (n, c, s) = (testCase.N, testCase.C, testCase.S);
            BatchNorm<double> bn = testCase.Layer<double>(momentum);
            bn.RunningMean!.Fill(0.5);
            bn.RunningVar!.Fill(2.0);
            bn.Forward(testCase.Doubles());
            var (mean, _, varU) = NaiveBatchNorm.Statistics(testCase.Values, n, c, s);
            AllClose(mean.Select(m => (1 - momentum) * 0.5 + momentum * m).ToArray(), Values(bn.RunningMean), 1e-10, 1e-12);
            AllClose(varU.Select(v => (1 - momentum) * 2.0 + momentum * v).ToArray(), Values(bn.RunningVar), 1e-10, 1e-12);
        }, iter: 200);
    }

    [Fact]
    public void Training_MomentumNull_AfterKBatches_RunningStatsArePlainAverages()
    {
        Gen.Select(NormCase.Gen, Gen.Int[1, 6]).Sample((testCase, k) =>
        {
            var (n, c, s) = (testCase.N, testCase.C, testCase.S);
            BatchNorm<double> bn = testCase.Layer<double>(momentum: null);
            var means = new double[c];
            var vars = new double[c];
            for (int batch = 0; batch < k; batch++)
            {
                // Each batch shifted and scaled differently, so the average is not trivially one batch's.
                double[] values = testCase.Values.Select(v => v * (1 + batch) + batch).ToArray();
                var (mean, _, varU) = NaiveBatchNorm.Statistics(values, n, c, s);
                for (int ch = 0; ch < c; ch++) { means[ch] += mean[ch] / k; vars[ch] += varU[ch] / k; }
                bn.Forward(Tensor.Create(values, testCase.Shape));
            }

            AllClose(means, Values(bn.RunningMean!), 1e-9, 1e-10);
            AllClose(vars, Values(bn.RunningVar!), 1e-9, 1e-10);
            Assert.Equal(k, bn.NumBatchesTracked);
        }, iter: 100);
    }

    [Fact]
    public void Eval_IsAPerChannelAffineMap()
    {
        Gen.Select(NormCase.Gen, Gen.Double[-3, 3], Gen.Double[0.1, 4]).Sample((testCase, rm, rv) =>
        {
            var (n, c, s) = (testCase.N, testCase.C, testCase.S);
            BatchNorm<double> bn = testCase.Layer<double>();
            bn.RunningMean!.Fill(rm);
            bn.RunningVar!.Fill(rv);
            bn.Weight!.Data.Fill(1.5);
            bn.Bias!.Data.Fill(-0.25);
            bn.Eval();
            double[] y = Values(bn.Forward(testCase.Doubles()));
            double alpha = 1.5 / Math.Sqrt(rv + 1e-5), beta = -0.25 - rm * alpha;
            AllClose(testCase.Values.Select(v => alpha * v + beta).ToArray(), y, 1e-10, 1e-12);
            Assert.Equal(0L, bn.NumBatchesTracked);
        }, iter: 200);
    }

    [Fact]
    public void Results_AreBitIdentical_ForAnyDegreeOfParallelism_BatchNormAndInstanceNorm()
    {
        // Large enough shapes that the work is split into several blocks.
        // Large enough that the work is cut into several items, also within one channel ([64, 2, 64, 64]: 4 items per
        // channel; [40000, 3]: 2 row blocks).
        var shapes = new nint[][] { [64, 8, 32, 32], [64, 2, 64, 64], [4096, 2, 7, 7], [3, 16, 2, 2000], [4096, 24], [40000, 3], [2, 3, 8, 8, 8] };
        int original = NormSharpOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (nint[] shape in shapes)
            foreach (bool instanceNorm in new[] { false, true })
            {
                if (instanceNorm && shape.Length == 2) continue;
                Tensor<float> x = Random<float>(3, 7, 2, shape);
                double[]? baseline = null;
                double[]? baselineMean = null;
                foreach (int threads in new[] { 1, 2, 7 })
                {
                    NormSharpOptions.MaxDegreeOfParallelism = threads;
                    int c = (int)shape[1];
                    NormBase<float> layer = (shape.Length, instanceNorm) switch
                    {
                        (2 or 3, false) => new BatchNorm1d(c),
                        (4, false) => new BatchNorm2d(c),
                        (_, false) => new BatchNorm3d(c),
                        (3, true) => new InstanceNorm1d(c, affine: true, trackRunningStats: true),
                        (4, true) => new InstanceNorm2d(c, affine: true, trackRunningStats: true),
                        _ => new InstanceNorm3d(c, affine: true, trackRunningStats: true),
                    };
                    double[] y = Values(layer.Forward(x));
                    double[] mean = Values(layer.RunningMean!).Concat(Values(layer.RunningVar!)).Concat(Values(layer.Backward(x)))
                                                              .Concat(Values(layer.Weight!.Grad!)).ToArray();
                    baseline ??= y;
                    baselineMean ??= mean;
                    Assert.Equal(baseline, y);
                    Assert.Equal(baselineMean, mean);
                }
            }
        }
        finally
        {
            NormSharpOptions.MaxDegreeOfParallelism = original;
        }
    }
}
