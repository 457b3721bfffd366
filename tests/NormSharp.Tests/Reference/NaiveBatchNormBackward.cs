namespace NormSharp.Tests.Reference;

/// <summary>docs/behavior.md section 4, written out literally in double: the reference for every gradient test.</summary>
public static class NaiveBatchNormBackward
{
    /// <summary>(dx, dw, db) with the given per-channel mean and invStd; batch statistics use the full formula.</summary>
    public static (double[] Dx, double[] Dw, double[] Db) Gradients(double[] x, double[] dy, int n, int c, int s, double[] mean,
                                                                    double[] invStd, double[]? weight, bool batchStatistics)
    {
        var dx = new double[x.Length];
        var dw = new double[c];
        var db = new double[c];
        int m = n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double sumDy = 0, sumDyXhat = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j;
                    sumDy += dy[k];
                    sumDyXhat += dy[k] * (x[k] - mean[ch]) * invStd[ch];
                }
            dw[ch] = sumDyXhat;
            db[ch] = sumDy;
            double w = weight?[ch] ?? 1.0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++)
                {
                    int k = (i * c + ch) * s + j;
                    double xhat = (x[k] - mean[ch]) * invStd[ch];
                    dx[k] = batchStatistics
                        ? w * invStd[ch] / m * (m * dy[k] - sumDy - xhat * sumDyXhat)
                        : dy[k] * w * invStd[ch];
                }
        }
        return (dx, dw, db);
    }
}
