using System.Numerics;
using System.Runtime.InteropServices;
using NormSharp.Oracle.Tests.Cases;
using NormSharp.Oracle.Tests.Reference;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// Runs one <see cref="InstanceNormCase"/> on NormSharp and on the PyTorch reference side by side; after every call
/// compares the error (if any) and its message, the channel-mismatch warning, the output, running_mean, running_var,
/// the counter, and which tensors exist. As for BatchNorm, a call that fails on both sides restores the reference's
/// state (NormSharp changes nothing on failure; PyTorch's lazy hook materializes before the forward fails).
/// </summary>
public static class InstanceNormOracleRunner
{
    public static void Run(InstanceNormCase testCase, OracleReport report)
    {
        if (testCase.UseDouble) Run<double>(testCase, report);
        else Run<float>(testCase, report);
        report.CountCase(testCase.Module);
    }

    public static NormBase<T> CreateLayer<T>(InstanceNormCase c) where T : unmanaged, IFloatingPointIeee754<T> => (c.Dims, c.Lazy) switch
    {
        (1, false) => new InstanceNorm1d<T>(c.Channels, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats),
        (2, false) => new InstanceNorm2d<T>(c.Channels, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats),
        (3, false) => new InstanceNorm3d<T>(c.Channels, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats),
        (1, true) => new LazyInstanceNorm1d<T>(c.Eps, c.Momentum, c.Affine, c.TrackRunningStats),
        (2, true) => new LazyInstanceNorm2d<T>(c.Eps, c.Momentum, c.Affine, c.TrackRunningStats),
        _ => new LazyInstanceNorm3d<T>(c.Eps, c.Momentum, c.Affine, c.TrackRunningStats),
    };

    private static PyTorchInstanceNorm CreateReference(InstanceNormCase c) => c.Lazy
        ? new PyTorchInstanceNorm(c.Dims + 1, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats, OracleRunner.Dtype(c.UseDouble))
        : new PyTorchInstanceNorm(c.Dims + 1, c.Channels, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats, OracleRunner.Dtype(c.UseDouble));

    private static void Run<T>(InstanceNormCase c, OracleReport report) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var scope = torch.NewDisposeScope();
        NormBase<T> ours = CreateLayer<T>(c);
        PyTorchInstanceNorm reference = CreateReference(c);
        if (c.Affine && !c.Lazy)
        {
            var (weight, bias) = c.AffineValues();
            reference.Weight!.copy_(OracleRunner.TorchTensor(weight, [c.Channels], c.UseDouble));
            reference.Bias!.copy_(OracleRunner.TorchTensor(bias, [c.Channels], c.UseDouble));
            for (int i = 0; i < c.Channels; i++)
            {
                ours.Weight!.Data[i] = T.CreateTruncating(weight[i]);
                ours.Bias!.Data[i] = T.CreateTruncating(bias[i]);
            }
        }

        bool warned = false;
        void OnWarning(object? sender, NormWarningEventArgs e)
        {
            if (ReferenceEquals(sender, ours)) warned = true;
        }

        double u = OracleTolerance.UnitRoundoff(c.UseDouble);
        var carriedMean = new double[c.Channels + 1];
        var carriedVar = new double[c.Channels + 1];
        NormWarnings.Raised += OnWarning;
        try
        {
            for (int index = 0; index < c.Steps.Length; index++)
            {
                OracleStep step = c.Steps[index];
                string where = $"step {index + 1} ({step}) of case {c}";
                var before = (PyTorchInstanceNorm)reference.Clone();
                Exception? referenceError = null, ourError = null;
                double[]? expected = null, actual = null, input = null;
                long[]? shape = null;
                warned = false;

                if (!step.IsForward) (referenceError, ourError) = OracleRunner.ApplyAttributeStep(step, reference, ours);
                else
                {
                    shape = c.InputShape(step);
                    input = c.InputValues(shape, index);
                    try { expected = OracleRunner.Values(reference.Forward(OracleRunner.TorchTensor(input, shape, c.UseDouble))); }
                    catch (Exception e) when (e is PythonException or ExternalException) { referenceError = e; }
                    try { actual = OracleRunner.Values(ours.Forward(OracleRunner.NormTensor<T>(input, shape, c.ChannelsLast))); }
                    catch (Exception e) when (e is ArgumentException or InvalidOperationException) { ourError = e; }
                }

                if ((referenceError is null) != (ourError is null))
                    Assert.Fail($"PyTorch {(referenceError is null ? "succeeded" : $"threw '{referenceError.Message.Split('\n')[0]}'")} but NormSharp " +
                                $"{(ourError is null ? "succeeded" : $"threw '{ourError.Message}'")} at {where}");
                if (step.IsForward)
                    Assert.True(reference.Warned == warned, $"warning: PyTorch {reference.Warned}, NormSharp {warned} at {where}");
                if (referenceError is not null)
                {
                    if (step.IsForward && referenceError is not PythonException { Type: "RuntimeError" or "AssertionError" })
                        Assert.True(OracleRunner.NormalizeMessage(referenceError.Message) == ourError!.Message,
                                    $"messages differ: PyTorch '{OracleRunner.NormalizeMessage(referenceError.Message)}', NormSharp '{ourError.Message}' at {where}");
                    reference = before;
                }

                Assert.True(reference.NumFeatures == ours.NumFeatures, $"num_features: PyTorch {reference.NumFeatures}, NormSharp {ours.NumFeatures} at {where}");
                if (expected is not null) CompareOutput(c, Initialized(before, reference), shape!, input!, expected, actual!, u, carriedMean, carriedVar, report, where);
                CompareState(c, reference, ours, shape, input, u, carriedMean, carriedVar, report, where);
            }
        }
        finally
        {
            NormWarnings.Raised -= OnWarning;
        }
    }

    /// <summary>(B, C, S) of a forward's input as the layer reads it (an unbatched input is a batch of one).</summary>
    private static (int B, int C, int S) Planes(InstanceNormCase c, long[] shape)
    {
        bool unbatched = shape.Length == c.Dims + 1;
        long[] batched = unbatched ? [1, .. shape] : shape;
        long s = 1;
        for (int d = 2; d < batched.Length; d++) s *= batched[d];
        return ((int)batched[0], (int)batched[1], (int)s);
    }

    private static void CompareOutput(InstanceNormCase c, PyTorchInstanceNorm before, long[] shape, double[] x, double[] expected, double[] actual,
                                      double u, double[] carriedMean, double[] carriedVar, OracleReport report, string where)
    {
        Assert.True(expected.Length == actual.Length, $"output sizes differ at {where}");
        if (x.Length == 0) return;
        var (batch, channels, spatial) = Planes(c, shape);
        bool inputStatistics = before.Training || !before.TrackRunningStats;
        double[]? rm = inputStatistics ? null : OracleRunner.Values(before.RunningMean!);
        double[]? rv = inputStatistics ? null : OracleRunner.Values(before.RunningVar!);
        double[]? w = before.Weight is null ? null : OracleRunner.Values(before.Weight);
        double[]? b = before.Bias is null ? null : OracleRunner.Values(before.Bias);
        for (int plane = 0; plane < batch * channels; plane++)
        {
            int ch = plane % channels;
            var values = new ArraySegment<double>(x, plane * spatial, spatial);
            double mean = values.Average();
            double centre = inputStatistics ? mean : rm![ch];
            double variance = inputStatistics ? values.Average(v => (v - mean) * (v - mean)) : rv![ch];
            double invStd = 1.0 / Math.Sqrt(variance + before.Eps);
            double maxAbs = values.Max(Math.Abs);
            double tolerance = OracleTolerance.Output(u, spatial, maxAbs, centre, invStd, w?[ch] ?? 1, b?[ch] ?? 0);
            if (!inputStatistics && ch < carriedMean.Length)
            {
                double scale = invStd * Math.Abs(w?[ch] ?? 1);
                tolerance += carriedMean[ch] * scale + (maxAbs + Math.Abs(centre)) * scale * carriedVar[ch] / (2 * (rv![ch] + before.Eps));
            }

            double worst = 0;
            for (int s = 0; s < spatial; s++)
            {
                int k = plane * spatial + s;
                double error = double.IsNaN(expected[k]) && double.IsNaN(actual[k]) ? 0 : Math.Abs(expected[k] - actual[k]);
                Assert.True(error == 0 || error <= tolerance, $"output[{k}] (plane {plane}): PyTorch {expected[k]:R}, NormSharp {actual[k]:R}, tolerance {tolerance:E2} at {where}");
                worst = Math.Max(worst, error);
            }

            report.Observe("InstanceNorm output", c.UseDouble, worst, tolerance, where);
        }
    }

    private static void CompareState<T>(InstanceNormCase c, PyTorchInstanceNorm reference, NormBase<T> ours, long[]? shape, double[]? x, double u,
                                        double[] carriedMean, double[] carriedVar, OracleReport report, string where)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.True((reference.Weight is null) == (ours.Weight is null), $"weight existence differs at {where}");
        Assert.True((reference.RunningMean is null) == (ours.RunningMean is null), $"running_mean existence differs at {where}");
        long? counter = reference.NumBatchesTracked?.item<long>();
        Assert.True(counter == ours.NumBatchesTracked, $"num_batches_tracked: PyTorch {counter}, NormSharp {ours.NumBatchesTracked} at {where}");
        if (reference.RunningMean is null) return;

        double[] expectedMean = OracleRunner.Values(reference.RunningMean), actualMean = OracleRunner.Values(ours.RunningMean!);
        double[] expectedVar = OracleRunner.Values(reference.RunningVar!), actualVar = OracleRunner.Values(ours.RunningVar!);
        int channelCount = expectedMean.Length;
        var maxAbs = new double[channelCount];
        var maxVarU = new double[channelCount];
        long n = 1;
        if (shape is not null && x is not null && x.Length > 0)
        {
            var (batch, channels, spatial) = Planes(c, shape);
            if (channels == channelCount)
            {
                n = spatial + batch;
                for (int plane = 0; plane < batch * channels; plane++)
                {
                    var values = new ArraySegment<double>(x, plane * spatial, spatial);
                    double mean = values.Average();
                    int ch = plane % channels;
                    maxAbs[ch] = Math.Max(maxAbs[ch], values.Max(Math.Abs));
                    if (spatial > 1) maxVarU[ch] = Math.Max(maxVarU[ch], values.Sum(v => (v - mean) * (v - mean)) / (spatial - 1));
                }
            }
        }

        for (int ch = 0; ch < channelCount; ch++)
        {
            double meanTolerance = carriedMean[ch] = Math.Max(carriedMean[ch], OracleTolerance.RunningMean(u, n, maxAbs[ch], Finite(expectedMean[ch])));
            double meanError = Difference(expectedMean[ch], actualMean[ch]);
            Assert.True(meanError <= meanTolerance, $"running_mean[{ch}]: PyTorch {expectedMean[ch]:R}, NormSharp {actualMean[ch]:R} at {where}");
            report.Observe("InstanceNorm running_mean", c.UseDouble, meanError, meanTolerance, where);

            double varTolerance = carriedVar[ch] = Math.Max(carriedVar[ch], OracleTolerance.RunningVar(u, n, maxAbs[ch], maxVarU[ch], Finite(expectedVar[ch])));
            double varError = Difference(expectedVar[ch], actualVar[ch]);
            Assert.True(varError <= varTolerance, $"running_var[{ch}]: PyTorch {expectedVar[ch]:R}, NormSharp {actualVar[ch]:R} at {where}");
            report.Observe("InstanceNorm running_var", c.UseDouble, varError, varTolerance, where);
        }
    }

    private static double Finite(double value) => double.IsFinite(value) ? value : 0;

    private static double Difference(double a, double b) => (double.IsNaN(a) && double.IsNaN(b)) || a == b ? 0 : Math.Abs(a - b);

    /// <summary>The state a forward ran with: the one before it, or, for a lazy layer's first forward, the one its
    /// initialization created (the forward does not change weight and bias, nor running statistics it normalizes with).</summary>
    private static TState Initialized<TState>(TState before, TState after) where TState : PyTorchNormBase =>
        (before.Weight is null && after.Weight is not null) || (before.RunningMean is null && after.RunningMean is not null) ? after : before;
}
