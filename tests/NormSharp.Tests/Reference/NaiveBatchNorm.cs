namespace NormSharp.Tests.Reference;

/// <summary>
/// The straightforward reference every test compares with: plain loops in double over an (N, C, S)
/// row-major array, no SIMD, no threads, no folding. Formulas are docs/behavior.md section 2.
/// </summary>
public static class NaiveBatchNorm
{
    /// <summary>Batch mean, biased and unbiased variance of each channel.</summary>
    public static (double[] Mean, double[] VarBiased, double[] VarUnbiased) Statistics(double[] x, int n, int c, int s)
    {
        var mean = new double[c];
        var varB = new double[c];
        var varU = new double[c];
        long m = (long)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) sum += x[(i * c + ch) * s + j];
            mean[ch] = sum / m;
            double sq = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++)
                {
                    double d = x[(i * c + ch) * s + j] - mean[ch];
                    sq += d * d;
                }
            varB[ch] = sq / m;
            varU[ch] = sq / (m - 1);
        }
        return (mean, varB, varU);
    }

    /// <summary>y = (x - mean) / sqrt(var + eps) * w + b, per channel.</summary>
    public static double[] Normalize(double[] x, int n, int c, int s, double[] mean, double[] var, double eps,
                                     double[]? weight = null, double[]? bias = null)
    {
        var y = new double[x.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j;
                    double v = (x[k] - mean[ch]) / Math.Sqrt(var[ch] + eps);
                    y[k] = v * (weight?[ch] ?? 1.0) + (bias?[ch] ?? 0.0);
                }
        return y;
    }

    /// <summary>running = (1 - f) * running + f * batch.</summary>
    public static double[] Blend(double[] running, double[] batch, double factor) =>
        running.Select((r, i) => (1 - factor) * r + factor * batch[i]).ToArray();
}
