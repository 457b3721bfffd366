using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using NormSharp.Oracle.Tests.Cases;
using NormSharp.Oracle.Tests.Reference;
using TorchSharp;


namespace NormSharp.Oracle.Tests;

/// <summary>
/// Runs one <see cref="OracleCase"/> on NormSharp and on the PyTorch reference side by side, and after
/// every call compares the error (if any), the output, running_mean, running_var and the counter.
/// </summary>
/// <remarks>
/// The one deliberate difference is handled here: when a call fails on both sides, the reference's
/// state is restored to what it was before the call (PyTorch may have bumped its counter or reset its
/// running statistics before failing; NormSharp changes nothing). That difference has tests of its own.
/// </remarks>
public static partial class OracleRunner
{
    public static void Run(OracleCase testCase, OracleReport report)
    {
        if (testCase.UseDouble) Run<double>(testCase, report);
        else Run<float>(testCase, report);
        report.CountCase(testCase.Module);
    }

    public static BatchNorm<T> CreateLayer<T>(int rank, int channels, double eps, double? momentum, bool affine, bool track)
        where T : unmanaged, IFloatingPointIeee754<T> => rank switch
    {
        2 or 3 => new BatchNorm1d<T>(channels, eps, momentum, affine, track),
        4 => new BatchNorm2d<T>(channels, eps, momentum, affine, track),
        _ => new BatchNorm3d<T>(channels, eps, momentum, affine, track),
    };

    public static BatchNorm<T> CreateLazyLayer<T>(int rank, double eps, double? momentum, bool affine, bool track)
        where T : unmanaged, IFloatingPointIeee754<T> => rank switch
    {
        2 or 3 => new LazyBatchNorm1d<T>(eps, momentum, affine, track),
        4 => new LazyBatchNorm2d<T>(eps, momentum, affine, track),
        _ => new LazyBatchNorm3d<T>(eps, momentum, affine, track),
    };

    public static PyTorchBatchNorm CreateLazyReference(int rank, double eps, double? momentum, bool affine, bool track, bool isDouble) =>
        rank switch
        {
            2 or 3 => new PyTorchBatchNorm([2, 3], "expected 2D or 3D input (got {0}D input)", eps, momentum, affine, track, Dtype(isDouble)),
            4 => new PyTorchBatchNorm([4], "expected 4D input (got {0}D input)", eps, momentum, affine, track, Dtype(isDouble)),
            _ => new PyTorchBatchNorm([5], "expected 5D input (got {0}D input)", eps, momentum, affine, track, Dtype(isDouble)),
        };

    public static PyTorchBatchNorm CreateReference(int rank, int channels, double eps, double? momentum, bool affine, bool track, bool isDouble) =>
        rank switch
        {
            2 or 3 => new PyTorchBatchNorm([2, 3], "expected 2D or 3D input (got {0}D input)", channels, eps, momentum, affine, track, Dtype(isDouble)),
            4 => new PyTorchBatchNorm([4], "expected 4D input (got {0}D input)", channels, eps, momentum, affine, track, Dtype(isDouble)),
            _ => new PyTorchBatchNorm([5], "expected 5D input (got {0}D input)", channels, eps, momentum, affine, track, Dtype(isDouble)),
        };

    public static torch.ScalarType Dtype(bool isDouble) => isDouble ? torch.ScalarType.Float64 : torch.ScalarType.Float32;

    public static torch.Tensor TorchTensor(double[] values, long[] shape, bool isDouble) =>
        isDouble ? torch.tensor(values, shape) : torch.tensor(values.Select(v => (float)v).ToArray(), shape);

    public static Tensor<T> NormTensor<T>(double[] values, long[] shape, bool channelsLast = false) where T : IFloatingPointIeee754<T>
    {
        nint[] lengths = shape.Select(l => (nint)l).ToArray();
        if (!channelsLast || shape.Length is not (4 or 5)) return Tensor.Create(values.Select(T.CreateTruncating).ToArray(), lengths);
        // The same logical tensor stored (N, spatial..., C).
        int n = (int)shape[0], c = (int)shape[1];
        int s = (int)(values.Length / Math.Max(1, (long)n * c));
        var stored = new T[values.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++) stored[(i * s + j) * c + ch] = T.CreateTruncating(values[(i * c + ch) * s + j]);
        return Tensor.Create(stored, lengths, NormLayout.ChannelsLastStrides(lengths));
    }

    public static double[] Values(torch.Tensor tensor) =>
        tensor.numel() == 0 ? [] : tensor.to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();

    public static double[] Values<T>(Tensor<T> tensor) where T : IFloatingPointIeee754<T>
    {
        var flat = new T[tensor.FlattenedLength];
        tensor.FlattenTo(flat);
        return flat.Select(double.CreateTruncating).ToArray();
    }

    /// <summary>libtorch's and Python's messages as NormSharp prints them: first line, sizes in plain brackets.</summary>
    public static string NormalizeMessage(string message) => TorchSize().Replace(message.Split('\n')[0].Trim(), "$1");

    [GeneratedRegex(@"torch\.Size\((\[[^\]]*\])\)")]
    private static partial Regex TorchSize();

    private static void Run<T>(OracleCase c, OracleReport report) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var scope = torch.NewDisposeScope();
        BatchNorm<T> ours = c.Lazy
            ? CreateLazyLayer<T>(c.Rank, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats)
            : CreateLayer<T>(c.Rank, c.Channels, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats);
        PyTorchNormBase reference = c.Lazy
            ? CreateLazyReference(c.Rank, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats, c.UseDouble)
            : CreateReference(c.Rank, c.Channels, c.Eps, c.Momentum, c.Affine, c.TrackRunningStats, c.UseDouble);
        if (c.Affine && !c.Lazy)
        {
            var (weight, bias) = c.AffineValues();
            reference.Weight!.copy_(TorchTensor(weight, [c.Channels], c.UseDouble));
            reference.Bias!.copy_(TorchTensor(bias, [c.Channels], c.UseDouble));
            for (int i = 0; i < c.Channels; i++)
            {
                ours.Weight!.Data[i] = T.CreateTruncating(weight[i]);
                ours.Bias!.Data[i] = T.CreateTruncating(bias[i]);
            }
        }

        double u = OracleTolerance.UnitRoundoff(c.UseDouble);
        // Running statistics are blends (contractions), so an error made at one forward stays bounded by the
        // tolerance of that forward: carry the largest tolerance seen so far per channel.
        // (C + 1: a lazy layer may take its size from a channel-mismatch step.)
        var carriedMeanTolerance = new double[c.Channels + 1];
        var carriedVarTolerance = new double[c.Channels + 1];
        for (int index = 0; index < c.Steps.Length; index++)
        {
            OracleStep step = c.Steps[index];
            string where = $"step {index + 1} ({step}) of case {c}";
            PyTorchNormBase before = reference.Clone();
            Exception? referenceError = null, ourError = null;
            double[]? referenceOutput = null, ourOutput = null, input = null;
            long[]? shape = null;

            if (!step.IsForward) (referenceError, ourError) = ApplyAttributeStep(step, reference, ours);
            else
            {
                shape = c.InputShape(step);
                input = c.InputValues(shape, index);
                try { referenceOutput = Values(reference.Forward(TorchTensor(input, shape, c.UseDouble))); }
                catch (Exception e) when (e is PythonException or ExternalException) { referenceError = e; }
                try { ourOutput = Values(ours.Forward(NormTensor<T>(input, shape, c.ChannelsLast))); }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException) { ourError = e; }
            }

            if ((referenceError is null) != (ourError is null))
                Assert.Fail($"PyTorch {(referenceError is null ? "succeeded" : $"threw '{referenceError.Message.Split('\n')[0]}'")} but NormSharp " +
                            $"{(ourError is null ? "succeeded" : $"threw '{ourError.Message}'")} at {where}");
            if (referenceError is not null)
            {
                if (step.IsForward && referenceError is not PythonException { Type: "RuntimeError" or "AssertionError" })
                    Assert.True(NormalizeMessage(referenceError.Message) == ourError!.Message,
                                $"messages differ: PyTorch '{NormalizeMessage(referenceError.Message)}', NormSharp '{ourError.Message}' at {where}");
                reference = before;
            }

            if (referenceOutput is not null)
                CompareOutput(c, Initialized(before, reference), shape!, input!, referenceOutput, ourOutput!, u, carriedMeanTolerance, carriedVarTolerance, report, where);
            CompareState(c, reference, ours, shape, input, u, carriedMeanTolerance, carriedVarTolerance, report, where);
        }
    }

    /// <summary>Applies a step that is not a forward (mode, attribute or reset) to both sides; returns the errors each raised.</summary>
    public static (Exception? Reference, Exception? Ours) ApplyAttributeStep<T>(OracleStep step, PyTorchNormBase reference, NormBase<T> ours)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Exception? referenceError = null, ourError = null;
        switch (step.Kind)
        {
            case StepKind.Train: reference.Training = true; ours.Train(); break;
            case StepKind.Eval: reference.Training = false; ours.Eval(); break;
            case StepKind.SetTrackRunningStats: reference.TrackRunningStats = step.Flag; ours.TrackRunningStats = step.Flag; break;
            case StepKind.SetAffine: reference.Affine = step.Flag; ours.Affine = step.Flag; break;
            case StepKind.SetMomentum: reference.Momentum = step.Number; ours.Momentum = step.Number; break;
            case StepKind.SetEps: reference.Eps = step.Number!.Value; ours.Eps = step.Number.Value; break;
            case StepKind.ResetRunningStats:
                try { reference.ResetRunningStats(); } catch (PythonException e) { referenceError = e; }
                try { ours.ResetRunningStats(); } catch (InvalidOperationException e) { ourError = e; }
                break;
            case StepKind.ResetParameters:
                try { reference.ResetParameters(); } catch (PythonException e) { referenceError = e; }
                try { ours.ResetParameters(); } catch (InvalidOperationException e) { ourError = e; }
                break;
            default:
                throw new ArgumentException($"{step} is a forward.", nameof(step));
        }

        return (referenceError, ourError);
    }

    /// <summary>Normal values (Box-Muller), rounded to float unless <paramref name="isDouble"/>.</summary>
    public static double[] Normal(Random random, long count, double mean, double std, bool isDouble = true) =>
        Enumerable.Range(0, (int)count).Select(_ =>
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double v = mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
            return isDouble ? v : (float)v;
        }).ToArray();

    /// <summary>The data of a gradient case, drawn in this order: x ~ N(mean, std²), dy ~ N(0, 1), weight ~ N(1, 0.25),
    /// bias ~ N(0, 1), running_mean ~ N(mean, std²), running_var = std²·(0.5 + z²) with z ~ N(0, 1).</summary>
    public static (double[] X, double[] Dy, double[] Weight, double[] Bias, double[] RunningMean, double[] RunningVar) GradientInputs(
        Random random, long count, int channels, double mean, double std, bool isDouble)
    {
        double[] x = Normal(random, count, mean, std, isDouble);
        double[] dy = Normal(random, count, 0, 1, isDouble);
        double[] weight = Normal(random, channels, 1, 0.5, isDouble);
        double[] bias = Normal(random, channels, 0, 1, isDouble);
        double[] runningMean = Normal(random, channels, mean, std, isDouble);
        double[] runningVar = Normal(random, channels, 0, 1, isDouble).Select(v => isDouble ? std * std * (0.5 + v * v) : (float)(std * std * (0.5 + v * v))).ToArray();
        return (x, dy, weight, bias, runningMean, runningVar);
    }

    private static void CompareOutput(OracleCase c, PyTorchNormBase before, long[] shape, double[] x, double[] expected, double[] actual,
                                      double u, double[] carriedMeanTolerance, double[] carriedVarTolerance, OracleReport report, string where)
    {
        Assert.True(expected.Length == actual.Length, $"output sizes differ at {where}");
        if (x.Length == 0) return;
        var (n, channels, spatial) = Sizes(shape);
        var (mean, varB, _) = Statistics(x, n, channels, spatial);
        bool batchStatistics = before.Training || (before.RunningMean is null && before.RunningVar is null);
        double[]? rm = batchStatistics ? null : Values(before.RunningMean!);
        double[]? rv = batchStatistics ? null : Values(before.RunningVar!);
        double[]? w = before.Weight is null ? null : Values(before.Weight);
        double[]? b = before.Bias is null ? null : Values(before.Bias);
        for (int ch = 0; ch < channels; ch++)
        {
            double centre = batchStatistics ? mean[ch] : rm![ch];
            double invStd = 1.0 / Math.Sqrt((batchStatistics ? varB[ch] : rv![ch]) + before.Eps);
            double maxAbs = MaxAbs(x, n, channels, spatial, ch);
            double tolerance = OracleTolerance.Output(u, (long)n * spatial, maxAbs, centre, invStd, w?[ch] ?? 1, b?[ch] ?? 0);
            if (!batchStatistics && ch < carriedMeanTolerance.Length)
            {
                // Evaluation reads running statistics that earlier forwards may have left a little apart.
                double scale = invStd * Math.Abs(w?[ch] ?? 1);
                tolerance += carriedMeanTolerance[ch] * scale + (maxAbs + Math.Abs(centre)) * scale * carriedVarTolerance[ch] / (2 * (rv![ch] + before.Eps));
            }
            double worst = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++)
                {
                    int k = (i * channels + ch) * spatial + s;
                    double error = Math.Abs(expected[k] - actual[k]);
                    if (double.IsNaN(expected[k]) && double.IsNaN(actual[k])) error = 0;
                    Assert.True(error <= tolerance, $"output[{k}] (channel {ch}): PyTorch {expected[k]:R}, NormSharp {actual[k]:R}, tolerance {tolerance:E2} at {where}");
                    worst = Math.Max(worst, error);
                }

            report.Observe("output", c.UseDouble, worst, tolerance, where);
        }
    }

    private static void CompareState<T>(OracleCase c, PyTorchNormBase reference, NormBase<T> ours, long[]? shape, double[]? x,
                                        double u, double[] carriedMeanTolerance, double[] carriedVarTolerance, OracleReport report,
                                        string where) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.True((reference.RunningMean is null) == (ours.RunningMean is null), $"running_mean existence differs at {where}");
        Assert.True((reference.RunningVar is null) == (ours.RunningVar is null), $"running_var existence differs at {where}");
        long? referenceCounter = reference.NumBatchesTracked?.item<long>();
        Assert.True(referenceCounter == ours.NumBatchesTracked, $"num_batches_tracked: PyTorch {referenceCounter}, NormSharp {ours.NumBatchesTracked} at {where}");
        if (reference.RunningMean is null) return;

        double[] expectedMean = Values(reference.RunningMean), actualMean = Values(ours.RunningMean!);
        double[] expectedVar = Values(reference.RunningVar!), actualVar = Values(ours.RunningVar!);
        long n = 1;
        double[] maxAbs = new double[expectedMean.Length], varU = new double[expectedMean.Length];
        if (shape is not null && x is not null && x.Length > 0 && shape[1] == expectedMean.Length)
        {
            var (batch, channels, spatial) = Sizes(shape);
            n = (long)batch * spatial;
            varU = Statistics(x, batch, channels, spatial).VarU;
            for (int ch = 0; ch < channels; ch++) maxAbs[ch] = MaxAbs(x, batch, channels, spatial, ch);
        }

        for (int ch = 0; ch < expectedMean.Length; ch++)
        {
            double meanTolerance = carriedMeanTolerance[ch] = Math.Max(carriedMeanTolerance[ch], OracleTolerance.RunningMean(u, n, maxAbs[ch], expectedMean[ch]));
            double meanError = Difference(expectedMean[ch], actualMean[ch]);
            Assert.True(meanError <= meanTolerance, $"running_mean[{ch}]: PyTorch {expectedMean[ch]:R}, NormSharp {actualMean[ch]:R} at {where}");
            report.Observe("running_mean", c.UseDouble, meanError, meanTolerance, where);

            double varTolerance = carriedVarTolerance[ch] = Math.Max(carriedVarTolerance[ch],
                OracleTolerance.RunningVar(u, n, maxAbs[ch], double.IsFinite(varU[ch]) ? varU[ch] : 0, expectedVar[ch]));
            double varError = Difference(expectedVar[ch], actualVar[ch]);
            Assert.True(varError <= varTolerance, $"running_var[{ch}]: PyTorch {expectedVar[ch]:R}, NormSharp {actualVar[ch]:R} at {where}");
            report.Observe("running_var", c.UseDouble, varError, varTolerance, where);
        }
    }

    private static double Difference(double a, double b) =>
        (double.IsNaN(a) && double.IsNaN(b)) || a == b ? 0 : Math.Abs(a - b);

    private static (int N, int C, int S) Sizes(long[] shape)
    {
        long s = 1;
        for (int d = 2; d < shape.Length; d++) s *= shape[d];
        return ((int)shape[0], (int)shape[1], (int)s);
    }

    private static double MaxAbs(double[] x, int n, int channels, int spatial, int ch)
    {
        double max = 0;
        for (int i = 0; i < n; i++)
            for (int s = 0; s < spatial; s++) max = Math.Max(max, Math.Abs(x[(i * channels + ch) * spatial + s]));
        return max;
    }

    private static (double[] Mean, double[] VarB, double[] VarU) Statistics(double[] x, int n, int channels, int spatial)
    {
        var mean = new double[channels];
        var varB = new double[channels];
        var varU = new double[channels];
        long m = (long)n * spatial;
        for (int ch = 0; ch < channels; ch++)
        {
            double sum = 0, squares = 0;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++) sum += x[(i * channels + ch) * spatial + s];
            mean[ch] = sum / m;
            for (int i = 0; i < n; i++)
                for (int s = 0; s < spatial; s++) squares += Math.Pow(x[(i * channels + ch) * spatial + s] - mean[ch], 2);
            varB[ch] = squares / m;
            varU[ch] = squares / (m - 1);
        }

        return (mean, varB, varU);
    }

    /// <summary>The state a forward ran with: the one before it, or, for a lazy layer's first forward, the one its
    /// initialization created (the forward does not change weight and bias, nor running statistics it normalizes with).</summary>
    private static TState Initialized<TState>(TState before, TState after) where TState : PyTorchNormBase =>
        (before.Weight is null && after.Weight is not null) || (before.RunningMean is null && after.RunningMean is not null) ? after : before;
}
