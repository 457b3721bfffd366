using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>
/// Runs the backward kernels over a validated, non-empty input (<see cref="NormLayout"/>): one read pass for
/// Σ dy and Σ (x - mean)·dy per channel, a per-channel finish, then one pass writing dx. Items and the order
/// of combining partial sums are set by the shape alone, as in <see cref="BatchNormExecution"/>.
/// </summary>
internal static unsafe class BatchNormBackwardExecution
{
    /// <summary>dx into <paramref name="gradInput"/> (when given); Σ dy·x̂ and Σ dy per channel into the arrays (when given).
    /// With an <paramref name="exchange"/> (a forward whose statistics were every process's, over
    /// <paramref name="count"/> values per channel), Σ dy and Σ dy·(x - mean) are summed over the processes before dx;
    /// the parameter gradients stay this process's own.</summary>
    public static void Run<T>(NormLayout layout, Tensor<T> x, Tensor<T> dy, Tensor<T>? gradInput, ReadOnlySpan<double> mean,
                              ReadOnlySpan<double> invStd, ReadOnlySpan<double> weight, bool batchStatistics,
                              Span<double> gradWeight, Span<double> gradBias, IBatchStatisticsExchange? exchange = null, long count = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = layout.Channels;
        double inverseCount = 1.0 / (exchange is null ? (long)layout.Batch * layout.Spatial : count);
        BackwardWork<T> work = BackwardWork<T>.ForThisThread;
        work.Layout = layout;
        double[] doubles = ScratchBuffers<double>.BackwardSums(layout.PartialsLength + 3 * channels);
        // Each coefficient array twice over (2C), for the rows kernel that reads a rows block as one run.
        T[] parameters = ScratchBuffers<T>.BackwardCoefficients(8 * channels);

        fixed (T* px = TensorStorage.Span(x))
        fixed (T* pdy = TensorStorage.Span(dy))
        fixed (T* pdx = gradInput is null ? default : TensorStorage.Span(gradInput))
        fixed (double* pDoubles = doubles)
        fixed (T* pParameters = parameters)
        {
            work.X = px;
            work.Dy = pdy;
            work.Dx = pdx;
            work.Partials = pDoubles;
            work.Mean = pDoubles + layout.PartialsLength;
            work.Centre = pParameters;
            work.GradMean = pParameters + 2 * channels;
            work.K = pParameters + 4 * channels;
            work.Scale = pParameters + 6 * channels;
            work.BatchStatistics = batchStatistics;
            long bytes = (long)layout.Batch * channels * layout.Spatial * sizeof(T);
            work.NonTemporal = OutputStores.NonTemporal(2 * bytes, bytes, layout.IsRows ? bytes : (long)layout.Spatial * sizeof(T));
            work.Prefetch = OutputStores.Prefetch(2 * bytes);
            for (int c = 0; c < channels; c++) work.Mean[c] = mean[c];

            work.Phase = BackwardWork<T>.Reduce;
            WorkerPool.For(layout.ReductionItems, work, layout.IsSmall);

            var sumsDy = new Span<double>(pDoubles + layout.PartialsLength + channels, channels);
            var dots = new Span<double>(pDoubles + layout.PartialsLength + 2 * channels, channels);
            for (int c = 0; c < channels; c++)
            {
                (double sumDy, double dotP) = layout.CombinePartials(pDoubles, c);
                if (!gradWeight.IsEmpty) gradWeight[c] = dotP * invStd[c];
                if (!gradBias.IsEmpty) gradBias[c] = sumDy;
                (sumsDy[c], dots[c]) = (sumDy, dotP);
            }

            if (batchStatistics) exchange?.SumGradientStatistics(sumsDy, dots);
            for (int c = 0; c < channels; c++)
            {
                double sumDy = sumsDy[c], dotP = dots[c], k = dotP * invStd[c] * invStd[c] * inverseCount;
                // The kernel subtracts the mean rounded to T; what rounding left of it moves into gradMean, in double
                // (see BatchNormBackward's remarks).
                T centre = T.CreateTruncating(mean[c]);
                double rest = T.IsFinite(centre) ? mean[c] - double.CreateTruncating(centre) : 0;
                work.Centre[c] = centre;
                work.GradMean[c] = T.CreateTruncating(Math.FusedMultiplyAdd(-rest, k, sumDy * inverseCount));
                work.K[c] = T.CreateTruncating(k);
                work.Scale[c] = T.CreateTruncating(invStd[c] * weight[c]);
            }

            if (pdx != null && layout.IsRows)
            {
                Repeat(work.Centre, channels);
                Repeat(work.GradMean, channels);
                Repeat(work.K, channels);
                Repeat(work.Scale, channels);
            }

            if (pdx != null)
            {
                work.Phase = BackwardWork<T>.Gradient;
                WorkerPool.For(layout.MapItems, work, layout.IsSmall);
            }
        }
    }

    /// <summary>Copies the C values at <paramref name="values"/> to the C after them.</summary>
    private static void Repeat<T>(T* values, int channels) where T : unmanaged =>
        new Span<T>(values, channels).CopyTo(new Span<T>(values + channels, channels));

    private sealed class BackwardWork<T> : IParallelWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public const int Reduce = 0, Gradient = 1;

        [ThreadStatic]
        private static BackwardWork<T>? cached;

        public T* X, Dy, Dx, Centre, GradMean, K, Scale;
        public double* Partials, Mean;
        public NormLayout Layout;
        public int Phase;
        public bool BatchStatistics, NonTemporal, Prefetch;

        public static BackwardWork<T> ForThisThread => cached ??= new BackwardWork<T>();

        public void Run(int index)
        {
            NormLayout l = Layout;
            int channels = l.Channels;
            if (Phase == Reduce)
            {
                ReductionPass.GradientSums(l, X, Dy, Mean, Partials, index, Prefetch);
                return;
            }

            if (l.IsRows)
            {
                (int first, int rows) = l.RowBlock(index);
                long offset = (long)first * channels;
                if (Prefetch && BatchNormTransform.AppliesRowsAsRun<T>(channels))
                {
                    // From memory: the block as one run in memory order (as the forward's transform).
                    BatchNormBackward.InputGradientRowsAsRun(new ReadOnlySpan<T>(X + offset, rows * channels), new ReadOnlySpan<T>(Dy + offset, rows * channels),
                                                             new Span<T>(Dx + offset, rows * channels),
                                                             new BatchNormBackward.ChannelGradients<T>(new ReadOnlySpan<T>(Centre, 2 * channels),
                                                                 new ReadOnlySpan<T>(GradMean, 2 * channels), new ReadOnlySpan<T>(K, 2 * channels),
                                                                 new ReadOnlySpan<T>(Scale, 2 * channels)), BatchStatistics, NonTemporal);
                    if (NonTemporal) BatchNormTransform.FenceStores();
                    return;
                }

                BatchNormBackward.InputGradientRows(new ReadOnlySpan<T>(X + offset, rows * channels), new ReadOnlySpan<T>(Dy + offset, rows * channels),
                                                    new Span<T>(Dx + offset, rows * channels), rows, new ReadOnlySpan<T>(Centre, channels),
                                                    new ReadOnlySpan<T>(GradMean, channels), new ReadOnlySpan<T>(K, channels),
                                                    new ReadOnlySpan<T>(Scale, channels), BatchStatistics);
                return;
            }

            (int start, int end) = l.PlaneBlock(index);
            for (int p = start; p < end; p++)
            {
                int ch = p % channels;
                long offset = (long)p * l.Spatial;
                BatchNormBackward.InputGradientRun(new ReadOnlySpan<T>(X + offset, l.Spatial), new ReadOnlySpan<T>(Dy + offset, l.Spatial),
                                                   new Span<T>(Dx + offset, l.Spatial), Centre[ch], GradMean[ch], K[ch], Scale[ch], BatchStatistics, NonTemporal);
            }

            if (NonTemporal) BatchNormTransform.FenceStores();
        }
    }
}
