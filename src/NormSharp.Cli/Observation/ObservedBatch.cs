using System.Numerics.Tensors;

namespace NormSharp.Cli.Observation;

/// <summary>A real batch of normal values and the measurements the CLI takes of a layer's output on it.</summary>
public static class ObservedBatch
{
    /// <summary>A seeded batch of normal values (mean <paramref name="mean"/>, std <paramref name="std"/>).</summary>
    public static Tensor<double> Create(nint[] shape, int seed, double mean = 0.0, double std = 1.0)
    {
        var random = new Random(seed);
        long count = 1;
        foreach (nint length in shape) count *= length;
        var values = new double[count];
        for (int i = 0; i < values.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }

        return Tensor.Create(values, shape);
    }

    /// <summary>Per-channel mean, biased and unbiased variance of an (N, C, *) tensor.</summary>
    public static (double[] Mean, double[] VarBiased, double[] VarUnbiased) ChannelStatistics(Tensor<double> x)
    {
        int n = (int)x.Lengths[0], c = (int)x.Lengths[1];
        int s = (int)(x.FlattenedLength / Math.Max(1, (long)n * c));
        double[] flat = Values(x);
        var mean = new double[c];
        var varB = new double[c];
        var varU = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0, squares = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) sum += flat[(i * c + ch) * s + j];
            mean[ch] = sum / (n * s);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) squares += Math.Pow(flat[(i * c + ch) * s + j] - mean[ch], 2);
            varB[ch] = squares / (n * s);
            varU[ch] = squares / (n * s - 1);
        }

        return (mean, varB, varU);
    }

    /// <summary>Per-(sample, channel) mean, biased and unbiased variance of an (N, C, *) tensor, indexed n·C + c.</summary>
    public static (double[] Mean, double[] VarBiased, double[] VarUnbiased) PlaneStatistics(Tensor<double> x)
    {
        int n = (int)x.Lengths[0], c = (int)x.Lengths[1];
        int s = (int)(x.FlattenedLength / Math.Max(1, (long)n * c));
        double[] flat = Values(x);
        var mean = new double[n * c];
        var varB = new double[n * c];
        var varU = new double[n * c];
        for (int plane = 0; plane < n * c; plane++)
        {
            var values = new ArraySegment<double>(flat, plane * s, s);
            mean[plane] = values.Average();
            double squares = values.Sum(v => (v - mean[plane]) * (v - mean[plane]));
            varB[plane] = squares / s;
            varU[plane] = squares / (s - 1);
        }

        return (mean, varB, varU);
    }

    /// <summary>y ≈ (x - mean[n·C + c]) / sqrt(var[n·C + c] + eps) · scale + shift: each (sample, channel) plane with its own statistics.</summary>
    public static bool MatchesPlaneNormalization(Tensor<double> x, Tensor<double> y, double[] mean, double[] variance, double eps,
                                                 double scale = 1.0, double shift = 0.0)
    {
        int planes = mean.Length;
        int s = (int)(x.FlattenedLength / Math.Max(1, planes));
        double[] xs = Values(x), ys = Values(y);
        for (int k = 0; k < xs.Length; k++)
            if (!Close((xs[k] - mean[k / s]) / Math.Sqrt(variance[k / s] + eps) * scale + shift, ys[k])) return false;
        return true;
    }

    /// <summary>The tensor's values in row-major order.</summary>
    public static double[] Values(Tensor<double> tensor)
    {
        var values = new double[tensor.FlattenedLength];
        tensor.FlattenTo(values);
        return values;
    }

    /// <summary>y ≈ (x - mean[c]) / sqrt(var[c] + eps) · scale + shift, elementwise, for every channel.</summary>
    public static bool MatchesNormalization(Tensor<double> x, Tensor<double> y, double[] mean, double[] variance, double eps,
                                            double scale = 1.0, double shift = 0.0)
    {
        int n = (int)x.Lengths[0], c = (int)x.Lengths[1];
        int s = (int)(x.FlattenedLength / Math.Max(1, (long)n * c));
        double[] xs = Values(x), ys = Values(y);
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j;
                    double expected = (xs[k] - mean[ch]) / Math.Sqrt(variance[ch] + eps) * scale + shift;
                    if (!Close(expected, ys[k])) return false;
                }

        return true;
    }

    /// <summary>Equal within 1e-9, relative to the larger magnitude (and absolute below 1).</summary>
    public static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-9 * Math.Max(1.0, Math.Max(Math.Abs(a), Math.Abs(b)));

    /// <summary>Elementwise <see cref="Close(double, double)"/>.</summary>
    public static bool Close(double[] a, double[] b) => a.Length == b.Length && a.Zip(b).All(p => Close(p.First, p.Second));
}
