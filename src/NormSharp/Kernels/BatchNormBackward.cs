using System.Numerics;

namespace NormSharp.Kernels;

/// <summary>
/// Gradients of batch normalization for one channel. x and dy are (N, C, S) row-major; mean and invStd
/// are the statistics the forward normalized with.
/// </summary>
/// <remarks>
/// With x̂ = (x - mean)·invStd and sums over the M values of the channel (in double, on one thread):
/// <code>
/// sumDy = Σ dy                      gradBias   = sumDy
/// dotP  = Σ (x - mean)·dy           gradWeight = dotP·invStd      ( = Σ dy·x̂ )
/// batch statistics (training, or evaluation without buffers): the statistics depend on x, so
///     dx = (dy - sumDy/M - (x - mean)·dotP·invStd²/M)·invStd·w
///        = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))
/// running statistics (evaluation with buffers): they are constants, so
///     dx = dy·invStd·w
/// </code>
/// (w = 1 without affine.) Passes over memory: one read of x and dy for the sums, then one read of
/// x and dy and one write of dx.
/// </remarks>
internal static class BatchNormBackward
{
    /// <summary>Σ dy and Σ (x - mean)·dy over one channel.</summary>
    public static void ReduceChannel<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int batch, int channels, int spatial, int channel,
                                        double mean, out double sumDy, out double dotP)
        where T : IFloatingPointIeee754<T>
    {
        double sum = 0, dot = 0;
        for (int n = 0; n < batch; n++)
        {
            int offset = (n * channels + channel) * spatial;
            ReadOnlySpan<T> xs = x.Slice(offset, spatial), gs = dy.Slice(offset, spatial);
            for (int s = 0; s < spatial; s++)
            {
                double g = double.CreateTruncating(gs[s]);
                sum += g;
                dot += (double.CreateTruncating(xs[s]) - mean) * g;
            }
        }

        sumDy = sum;
        dotP = dot;
    }

    /// <summary>dx for one channel: the batch-statistics formula when <paramref name="batchStatistics"/>, else dy·invStd·w.</summary>
    public static void InputGradientChannel<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int batch, int channels, int spatial,
                                               int channel, double mean, double invStd, double weight, bool batchStatistics,
                                               double sumDy, double dotP)
        where T : IFloatingPointIeee754<T>
    {
        long count = (long)batch * spatial;
        double scale = invStd * weight;
        double k = batchStatistics ? dotP * invStd * invStd / count : 0.0;
        double gradMean = batchStatistics ? sumDy / count : 0.0;
        for (int n = 0; n < batch; n++)
        {
            int offset = (n * channels + channel) * spatial;
            ReadOnlySpan<T> xs = x.Slice(offset, spatial), gs = dy.Slice(offset, spatial);
            Span<T> gradient = dx.Slice(offset, spatial);
            for (int s = 0; s < spatial; s++)
            {
                double centred = double.CreateTruncating(xs[s]) - mean;
                gradient[s] = T.CreateTruncating((double.CreateTruncating(gs[s]) - gradMean - centred * k) * scale);
            }
        }
    }
}
