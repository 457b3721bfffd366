using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>
/// Runs the batch-norm kernels over a validated, non-empty, row-major (N, C, S) input: one task per
/// block of channels, each channel reduced and transformed by one thread, so the bits do not depend
/// on the thread count.
/// </summary>
internal static unsafe class BatchNormExecution
{
    // A block should carry enough elements to pay for a thread hand-off.
    private const long MinimumElementsPerBlock = 1 << 15;

    /// <summary>Normalizes <paramref name="x"/> into <paramref name="output"/>; when given, <paramref name="savedMean"/> and
    /// <paramref name="savedInvStd"/> (length C) receive the statistics each channel was normalized with, in double.</summary>
    public static void Run<T>(Tensor<T> x, Tensor<T> output, Tensor<T>? runningMean, Tensor<T>? runningVar,
                              Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum, double eps,
                              double[]? savedMean = null, double[]? savedInvStd = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReadOnlySpan<nint> shape = x.Lengths;
        int batch = (int)shape[0], channels = (int)shape[1];
        int spatial = (int)(x.FlattenedLength / ((long)batch * channels));

        fixed (T* px = TensorStorage.Span(x))
        fixed (T* py = TensorStorage.Span(output))
        fixed (T* prm = runningMean is null ? default : TensorStorage.Span(runningMean))
        fixed (T* prv = runningVar is null ? default : TensorStorage.Span(runningVar))
        fixed (T* pw = weight is null ? default : TensorStorage.Span(weight))
        fixed (T* pb = bias is null ? default : TensorStorage.Span(bias))
        {
            var job = new Job<T>
            {
                X = px, Y = py, RunningMean = prm, RunningVar = prv, Weight = pw, Bias = pb,
                Batch = batch, Channels = channels, Spatial = spatial,
                Training = training, Momentum = momentum, Eps = eps,
                SavedMean = savedMean, SavedInvStd = savedInvStd,
            };
            long perChannel = (long)batch * spatial;
            long channelsPerBlock = Math.Max(1, MinimumElementsPerBlock / Math.Max(1, perChannel));
            WorkPartitioner.For(channels, channelsPerBlock, job.RunChannels);
        }
    }

    private sealed class Job<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Y, RunningMean, RunningVar, Weight, Bias;
        public int Batch, Channels, Spatial;
        public bool Training;
        public double Momentum, Eps;
        public double[]? SavedMean, SavedInvStd;

        public void RunChannels(long start, long end)
        {
            int total = Batch * Channels * Spatial;
            var x = new ReadOnlySpan<T>(X, total);
            var y = new Span<T>(Y, total);
            for (int c = (int)start; c < end; c++)
            {
                T mean, invStd;
                double meanUsed, invStdUsed;
                if (Training)
                {
                    BatchNormStatistics.CollectChannel(x, Batch, Channels, Spatial, c, out double batchMean, out double varSum);
                    long count = (long)Batch * Spatial;
                    meanUsed = batchMean;
                    invStdUsed = BatchNormStatistics.InvStd(varSum / count, Eps);
                    mean = T.CreateTruncating(meanUsed);
                    invStd = T.CreateTruncating(invStdUsed);
                    if (RunningMean != null) RunningMean[c] = RunningStatistics.Blend(RunningMean[c], batchMean, Momentum);
                    if (RunningVar != null) RunningVar[c] = RunningStatistics.Blend(RunningVar[c], varSum / (count - 1), Momentum);
                }
                else
                {
                    mean = RunningMean[c];
                    invStd = T.One / T.Sqrt(RunningVar[c] + T.CreateTruncating(Eps));
                    // libtorch's backward recomputes this in double, with a double eps.
                    meanUsed = double.CreateTruncating(mean);
                    invStdUsed = 1.0 / Math.Sqrt(double.CreateTruncating(RunningVar[c]) + Eps);
                }

                if (SavedMean is not null) SavedMean[c] = meanUsed;
                if (SavedInvStd is not null) SavedInvStd[c] = invStdUsed;

                T w = Weight != null ? Weight[c] : T.One;
                T b = Bias != null ? Bias[c] : T.Zero;
                (T alpha, T beta) = BatchNormTransform.ScaleAndShift(mean, invStd, w, b);
                for (int n = 0; n < Batch; n++)
                {
                    int offset = (n * Channels + c) * Spatial;
                    BatchNormTransform.ApplyPlane(x.Slice(offset, Spatial), y.Slice(offset, Spatial), alpha, beta);
                }
            }
        }
    }
}
