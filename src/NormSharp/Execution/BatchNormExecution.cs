using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>
/// Runs the forward kernels over a validated, non-empty input whose layout the kernels read directly
/// (<see cref="NormLayout"/>). Training: the moments pass (one read of memory, each L1-sized chunk read twice:
/// <see cref="ShiftedMoments"/>), a per-channel finish (mean, invStd, running update, the folded centre, alpha and beta),
/// then one read-and-write pass. Evaluation: the fold from the running statistics, then the same single pass.
/// Work is cut into items by the shape alone (about 64K elements each), partial results are combined in item
/// order: the bits do not depend on the degree of parallelism.
/// </summary>
internal static unsafe class BatchNormExecution
{
    /// <summary>Normalizes x into y; <paramref name="savedMean"/>/<paramref name="savedInvStd"/> (length C, when given) receive
    /// the statistics each channel was normalized with, in double, and <paramref name="savedUnbiasedVar"/> (training) the
    /// unbiased variance. Weight, bias and (in evaluation) the running statistics may be shorter than C, a divisor of it:
    /// channel c then reads index c mod length (InstanceNorm's (1, N·C, *) view with (C) parameters). In training the
    /// running statistics, when given, have length C and are updated. With an <paramref name="exchange"/> (training only), the
    /// statistics are those of every process's batch together (see <see cref="IBatchStatisticsExchange"/>).
    /// <paramref name="savedBiasedVar"/> (training) receives the biased variance.</summary>
    /// <returns>The number of values each channel's statistics were taken over (every process's, with an exchange).</returns>
    public static long Run<T>(NormLayout layout, Tensor<T> x, Tensor<T> y, Tensor<T>? runningMean, Tensor<T>? runningVar,
                              Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum, double eps,
                              double[]? savedMean, double[]? savedInvStd, double[]? savedUnbiasedVar = null,
                              IBatchStatisticsExchange? exchange = null, double[]? savedBiasedVar = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = layout.Channels;
        Span<T> rm = runningMean is null ? default : TensorStorage.Span(runningMean);
        Span<T> rv = runningVar is null ? default : TensorStorage.Span(runningVar);
        Span<T> w = weight is null ? default : TensorStorage.Span(weight);
        Span<T> b = bias is null ? default : TensorStorage.Span(bias);
        // Each coefficient array twice over (2C), so that the rows kernel that reads a rows block as one run finds a whole
        // register of coefficients from any channel on.
        T[] folded = ScratchBuffers<T>.ScaleAndShift(6 * channels);
        ForwardWork<T> work = ForwardWork<T>.ForThisThread;
        work.Layout = layout;
        int momentItems = layout.ReductionItems, partials = layout.MomentPartials;
        double[] moments = training ? ScratchBuffers<double>.Moments(4 * (partials + channels) + 2 * channels) : [];
        long count = (long)layout.Batch * layout.Spatial;

        fixed (T* px = TensorStorage.Span(x))
        fixed (T* py = TensorStorage.Span(y))
        fixed (T* pFolded = folded)
        fixed (double* pMoments = moments)
        {
            work.X = px;
            work.Y = py;
            work.Alpha = pFolded;
            work.Beta = pFolded + 2 * channels;
            work.Centre = pFolded + 4 * channels;
            if (training)
            {
                work.Partials = pMoments;
                work.PartialCount = partials;
                work.Phase = ForwardWork<T>.Moments;
                WorkerPool.For(momentItems, work, layout.IsSmall);

                MomentSpans totals = MomentSpans.Over(pMoments + 4L * partials, channels);
                layout.CombineMoments(MomentSpans.Over(pMoments, partials), totals);
                var means = new Span<double>(pMoments + 4L * (partials + channels), channels);
                var varSums = new Span<double>(pMoments + 4L * (partials + channels) + channels, channels);
                for (int c = 0; c < channels; c++) (means[c], varSums[c]) = ShiftedMoments.MeanAndVarSum(totals[c], count);
                exchange?.CombineStatistics(means, varSums, ref count);
                double inverseCount = 1.0 / count, inverseCountLessOne = 1.0 / (count - 1);
                for (int c = 0; c < channels; c++)
                {
                    double mean = means[c], varSum = varSums[c];
                    double invStd = ShiftedMoments.InvStd(varSum * inverseCount, eps);
                    if (!rm.IsEmpty) rm[c] = RunningStatistics.Blend(rm[c], mean, momentum);
                    if (!rv.IsEmpty) rv[c] = RunningStatistics.Blend(rv[c], varSum * inverseCountLessOne, momentum);
                    Fold(work, c, mean, invStd, w, b);
                    if (savedMean is not null) savedMean[c] = mean;
                    if (savedInvStd is not null) savedInvStd[c] = invStd;
                    if (savedUnbiasedVar is not null) savedUnbiasedVar[c] = varSum * inverseCountLessOne;
                    if (savedBiasedVar is not null) savedBiasedVar[c] = varSum * inverseCount;
                }
            }
            else
            {
                for (int c = 0; c < channels; c++)
                {
                    // One square root per channel, in double (libtorch's backward also recomputes it in double).
                    double mean = double.CreateTruncating(rm[c % rm.Length]);
                    double invStd = 1.0 / Math.Sqrt(double.CreateTruncating(rv[c % rv.Length]) + eps);
                    Fold(work, c, mean, invStd, w, b);
                    if (savedMean is not null) savedMean[c] = mean;
                    if (savedInvStd is not null) savedInvStd[c] = invStd;
                }
            }

            long bytes = (long)layout.Batch * channels * layout.Spatial * sizeof(T);
            // Rows: a block is one run (the rows kernels that store past the caches read it as one); planes: a plane.
            work.NonTemporal = OutputStores.NonTemporal(bytes, bytes, layout.IsRows ? bytes : (long)layout.Spatial * sizeof(T));
            work.Prefetch = OutputStores.Prefetch(bytes);
            if (layout.IsRows)
            {
                new Span<T>(work.Alpha, channels).CopyTo(new Span<T>(work.Alpha + channels, channels));
                new Span<T>(work.Beta, channels).CopyTo(new Span<T>(work.Beta + channels, channels));
                new Span<T>(work.Centre, channels).CopyTo(new Span<T>(work.Centre + channels, channels));
            }

            work.Phase = ForwardWork<T>.Transform;
            WorkerPool.For(layout.MapItems, work, layout.IsSmall);
        }

        return count;
    }

    /// <summary>
    /// A training forward of an empty share of a batch spread over several processes: this process takes part in the
    /// exchange with count 0, then updates its running statistics (when given) with the whole batch's, exactly as the
    /// processes with values do. Nothing changes when the whole batch is empty.
    /// </summary>
    /// <returns>The number of values each channel's statistics were taken over, over every process.</returns>
    public static long RunEmptyShare<T>(int channels, Tensor<T>? runningMean, Tensor<T>? runningVar, double momentum,
                                        IBatchStatisticsExchange exchange)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double[] scratch = ScratchBuffers<double>.Moments(2 * channels);
        Span<double> means = scratch.AsSpan(0, channels), varSums = scratch.AsSpan(channels, channels);
        means.Clear();
        varSums.Clear();
        long count = 0;
        exchange.CombineStatistics(means, varSums, ref count);
        if (count == 0) return 0;

        // The same expressions as the processes with values evaluate, so that every process holds the same bits.
        Span<T> rm = runningMean is null ? default : TensorStorage.Span(runningMean);
        Span<T> rv = runningVar is null ? default : TensorStorage.Span(runningVar);
        double inverseCountLessOne = 1.0 / (count - 1);
        for (int c = 0; c < channels; c++)
        {
            if (!rm.IsEmpty) rm[c] = RunningStatistics.Blend(rm[c], means[c], momentum);
            if (!rv.IsEmpty) rv[c] = RunningStatistics.Blend(rv[c], varSums[c] * inverseCountLessOne, momentum);
        }

        return count;
    }

    private static void Fold<T>(ForwardWork<T> work, int c, double mean, double invStd, Span<T> weight, Span<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // c < length (a tensor of C values) reads index c itself without the division that c mod length costs.
        (T centre, T alpha, T beta) = BatchNormTransform.Coefficients(mean, invStd,
                                                                      weight.IsEmpty ? T.One : weight[c < weight.Length ? c : c % weight.Length],
                                                                      bias.IsEmpty ? T.Zero : bias[c < bias.Length ? c : c % bias.Length]);
        work.Centre[c] = centre;
        work.Alpha[c] = alpha;
        work.Beta[c] = beta;
    }

    /// <summary>Benchmark switch: the rows transform four rows at a time even from memory.</summary>
    internal static bool RowsInFoursSwitch { get; set; }

    private sealed class ForwardWork<T> : IParallelWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public const int Moments = 0, Transform = 1;

        [ThreadStatic]
        private static ForwardWork<T>? cached;

        public T* X, Y, Centre, Alpha, Beta;
        public double* Partials;
        public int PartialCount;
        public NormLayout Layout;
        public int Phase;
        public bool NonTemporal, Prefetch;

        public static ForwardWork<T> ForThisThread => cached ??= new ForwardWork<T>();

        public void Run(int index)
        {
            NormLayout l = Layout;
            if (Phase == Moments)
            {
                ReductionPass.Moments(l, X, Partials, PartialCount, index);
                return;
            }

            if (l.IsRows)
            {
                (int first, int rows) = l.RowBlock(index);
                long offset = (long)first * l.Channels;
                if (Prefetch && !RowsInFoursSwitch && BatchNormTransform.AppliesRowsAsRun<T>(l.Channels))
                {
                    // From memory: the block as one run, in memory order (which the hardware prefetcher follows).
                    BatchNormTransform.ApplyRowsAsRun(new ReadOnlySpan<T>(X + offset, rows * l.Channels), new Span<T>(Y + offset, rows * l.Channels),
                                                      new ReadOnlySpan<T>(Centre, 2 * l.Channels), new ReadOnlySpan<T>(Alpha, 2 * l.Channels),
                                                      new ReadOnlySpan<T>(Beta, 2 * l.Channels), NonTemporal);
                    if (NonTemporal) BatchNormTransform.FenceStores();
                    return;
                }

                BatchNormTransform.ApplyRows(new ReadOnlySpan<T>(X + offset, rows * l.Channels), new Span<T>(Y + offset, rows * l.Channels), rows,
                                             new ReadOnlySpan<T>(Centre, l.Channels), new ReadOnlySpan<T>(Alpha, l.Channels), new ReadOnlySpan<T>(Beta, l.Channels),
                                             NonTemporal, Prefetch);
                if (NonTemporal) BatchNormTransform.FenceStores();
                return;
            }

            (int start, int end) = l.PlaneBlock(index);
            for (int p = start; p < end; p++)
            {
                int channel = p % l.Channels;
                long offset = (long)p * l.Spatial;
                BatchNormTransform.ApplyRun(new ReadOnlySpan<T>(X + offset, l.Spatial), new Span<T>(Y + offset, l.Spatial), Centre[channel], Alpha[channel],
                                             Beta[channel], NonTemporal);
            }

            if (NonTemporal) BatchNormTransform.FenceStores();
        }
    }
}
