using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>
/// Runs the backward kernels over a validated, non-empty, row-major (N, C, S) input, one task per block
/// of channels (so the bits do not depend on the thread count).
/// </summary>
internal static unsafe class BatchNormBackwardExecution
{
    private const long MinimumElementsPerBlock = 1 << 15;

    /// <summary>dx into <paramref name="gradInput"/> (when given); Σ dy·x̂ and Σ dy per channel into the arrays (when given).</summary>
    public static void Run<T>(Tensor<T> x, Tensor<T> dy, Tensor<T>? gradInput, ReadOnlySpan<double> mean, ReadOnlySpan<double> invStd,
                              ReadOnlySpan<double> weight, bool batchStatistics, double[]? gradWeight, double[]? gradBias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReadOnlySpan<nint> shape = x.Lengths;
        int batch = (int)shape[0], channels = (int)shape[1];
        int spatial = (int)(x.FlattenedLength / ((long)batch * channels));
        fixed (T* px = TensorStorage.Span(x))
        fixed (T* pdy = TensorStorage.Span(dy))
        fixed (T* pdx = gradInput is null ? default : TensorStorage.Span(gradInput))
        {
            var job = new Job<T>
            {
                X = px, Dy = pdy, Dx = pdx, Batch = batch, Channels = channels, Spatial = spatial,
                Mean = mean.ToArray(), InvStd = invStd.ToArray(), Weight = weight.ToArray(), BatchStatistics = batchStatistics,
                GradWeight = gradWeight, GradBias = gradBias,
            };
            long perChannel = (long)batch * spatial;
            WorkPartitioner.For(channels, Math.Max(1, MinimumElementsPerBlock / Math.Max(1, perChannel)), job.RunChannels);
        }
    }

    private sealed class Job<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Dy, Dx;
        public int Batch, Channels, Spatial;
        public double[] Mean = [], InvStd = [], Weight = [];
        public bool BatchStatistics;
        public double[]? GradWeight, GradBias;

        public void RunChannels(long start, long end)
        {
            int total = Batch * Channels * Spatial;
            var x = new ReadOnlySpan<T>(X, total);
            var dy = new ReadOnlySpan<T>(Dy, total);
            for (int c = (int)start; c < end; c++)
            {
                BatchNormBackward.ReduceChannel(x, dy, Batch, Channels, Spatial, c, Mean[c], out double sumDy, out double dotP);
                if (GradWeight is not null) GradWeight[c] = dotP * InvStd[c];
                if (GradBias is not null) GradBias[c] = sumDy;
                if (Dx != null)
                    BatchNormBackward.InputGradientChannel(x, dy, new Span<T>(Dx, total), Batch, Channels, Spatial, c,
                                                           Mean[c], InvStd[c], Weight[c], BatchStatistics, sumDy, dotP);
            }
        }
    }
}
