using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>
/// The forward and backward of mixed precision, PyTorch's <c>mixed_type</c> CPU path: input, output, dy and dx stored in a
/// 16-bit type (<see cref="Half"/> or <see cref="BFloat16"/>), weight, bias and running statistics in float, the arithmetic
/// in float, the statistics and the backward's sums in double (NormSharp's rule; PyTorch accumulates them in float).
/// </summary>
/// <remarks>
/// <para>Everything is the float executors' (<see cref="BatchNormExecution"/>, <see cref="BatchNormBackwardExecution"/>):
/// the same work items, the same kernels, the same per-channel finish in float. The reductions read the 16-bit values
/// directly, widened exactly as the lanes load them (<see cref="Lanes512{T}.Load"/>), so their bits are those of the float
/// path on the widened input. The maps convert a piece of at most <see cref="Piece"/> values to float on the stack (it
/// stays in L1), run the float kernel on it in place, and round the result to the storage type
/// (<see cref="HalfConversion"/>): each output is the float path's value, rounded once. Memory is read and written in the
/// storage type only: two bytes a value per pass.</para>
/// <para>With <c>TStorage</c> = float the executors are the float path itself, bit for bit (a test pins it, so that the
/// per-channel finish here and the float executors' can never drift apart).</para>
/// </remarks>
[SkipLocalsInit] // the pieces are written before they are read
internal static unsafe class MixedPrecisionExecution
{
    /// <summary>Values of a map's piece, converted to float on the stack: 8 KB, in L1 with the next piece's input.</summary>
    public const int Piece = 2048;

    /// <summary>
    /// <see cref="BatchNormExecution.Run{T}"/> over 16-bit storage: the same arguments and results, x and y of
    /// <typeparamref name="TStorage"/>, the per-channel tensors float. <c>statisticsInStorageType</c>: PyTorch's rule for a
    /// call without any float per-channel tensor (no weight, bias or running statistics): its dispatch then sees no float
    /// parameter and runs the op in the input's type, keeping the batch's mean and invStd (and, for bfloat16, the sum of
    /// squared deviations before invStd, around the rounded mean in the rows layout) in <typeparamref name="TStorage"/>, each
    /// rounded to it, before the fold; the saved statistics are the rounded ones.
    /// </summary>
    /// <returns>The number of values each channel's statistics were taken over (every process's, with an exchange).</returns>
    public static long Run<TStorage>(NormLayout layout, Tensor<TStorage> x, Tensor<TStorage> y, Tensor<float>? runningMean, Tensor<float>? runningVar,
                                     Tensor<float>? weight, Tensor<float>? bias, bool training, double momentum, double eps,
                                     double[]? savedMean, double[]? savedInvStd, double[]? savedUnbiasedVar = null,
                                     IBatchStatisticsExchange? exchange = null, double[]? savedBiasedVar = null, bool statisticsInStorageType = false)
        where TStorage : unmanaged
    {
        int channels = layout.Channels;
        Span<float> rm = runningMean is null ? default : TensorStorage.Span(runningMean);
        Span<float> rv = runningVar is null ? default : TensorStorage.Span(runningVar);
        Span<float> w = weight is null ? default : TensorStorage.Span(weight);
        Span<float> b = bias is null ? default : TensorStorage.Span(bias);
        float[] folded = ScratchBuffers<float>.ScaleAndShift(3 * channels);
        ForwardWork<TStorage> work = ForwardWork<TStorage>.ForThisThread;
        work.Layout = layout;
        int momentItems = layout.ReductionItems, partials = layout.MomentPartials;
        double[] moments = training ? ScratchBuffers<double>.Moments(4 * (partials + channels) + 2 * channels) : [];
        long count = (long)layout.Batch * layout.Spatial;

        fixed (TStorage* px = TensorStorage.Span(x))
        fixed (TStorage* py = TensorStorage.Span(y))
        fixed (float* pFolded = folded)
        fixed (double* pMoments = moments)
        {
            work.X = px;
            work.Y = py;
            work.Alpha = pFolded;
            work.Beta = pFolded + channels;
            work.Centre = pFolded + 2 * channels;
            if (training)
            {
                work.Partials = pMoments;
                work.PartialCount = partials;
                work.Phase = ForwardWork<TStorage>.Moments;
                WorkerPool.For(momentItems, work);

                MomentSpans totals = MomentSpans.Over(pMoments + 4L * partials, channels);
                layout.CombineMoments(MomentSpans.Over(pMoments, partials), totals);
                var means = new Span<double>(pMoments + 4L * (partials + channels), channels);
                var varSums = new Span<double>(pMoments + 4L * (partials + channels) + channels, channels);
                for (int c = 0; c < channels; c++) (means[c], varSums[c]) = ShiftedMoments.MeanAndVarSum(totals[c], count);
                exchange?.CombineStatistics(means, varSums, ref count);
                double inverseCount = 1.0 / count, inverseCountLessOne = 1.0 / (count - 1);
                // BatchNormExecution's per-channel finish, in float.
                for (int c = 0; c < channels; c++)
                {
                    double mean = means[c], varSum = varSums[c];
                    if (statisticsInStorageType)
                    {
                        // ATen keeps a float16 op's sum of squared deviations in float (float16 would overflow), a bfloat16 op's
                        // in bfloat16; its rows kernel (an (N, C) or channels-last bfloat16 input) sums the squares around the
                        // rounded mean: Σ(x - m)² = Σ(x - mean)² + n·(mean - m)².
                        double rounded = InStorageType<TStorage>(mean);
                        if (typeof(TStorage) == typeof(BFloat16))
                        {
                            if (layout.IsRows) varSum += count * (mean - rounded) * (mean - rounded);
                            varSum = InStorageType<TStorage>(varSum);
                        }

                        mean = rounded;
                    }

                    double invStd = ShiftedMoments.InvStd(varSum * inverseCount, eps);
                    if (statisticsInStorageType) invStd = InStorageType<TStorage>(invStd);
                    if (!rm.IsEmpty) rm[c] = RunningStatistics.Blend(rm[c], mean, momentum);
                    if (!rv.IsEmpty) rv[c] = RunningStatistics.Blend(rv[c], varSum * inverseCountLessOne, momentum);
                    Fold(work, c, mean, invStd, w, b, statisticsInStorageType);
                    if (savedMean is not null) savedMean[c] = mean;
                    if (savedInvStd is not null) savedInvStd[c] = invStd;
                    if (savedUnbiasedVar is not null) savedUnbiasedVar[c] = varSum * inverseCountLessOne;
                    if (savedBiasedVar is not null)
                        savedBiasedVar[c] = statisticsInStorageType ? InStorageType<TStorage>(varSum * inverseCount) : varSum * inverseCount;
                }
            }
            else
            {
                for (int c = 0; c < channels; c++)
                {
                    float mean = rm[c % rm.Length];
                    double invStd = 1.0 / Math.Sqrt(rv[c % rv.Length] + eps);
                    Fold(work, c, mean, invStd, w, b, statisticsInStorageType: false);
                    if (savedMean is not null) savedMean[c] = mean;
                    if (savedInvStd is not null) savedInvStd[c] = invStd;
                }
            }

            work.Phase = ForwardWork<TStorage>.Transform;
            WorkerPool.For(layout.MapItems, work);
        }

        return count;
    }

    /// <summary>
    /// <see cref="BatchNormBackwardExecution.Run{T}"/> over 16-bit storage: x, dy and dx of <typeparamref name="TStorage"/>,
    /// the per-channel values in double, the dx pass in float.
    /// </summary>
    public static void Backward<TStorage>(NormLayout layout, Tensor<TStorage> x, Tensor<TStorage> dy, Tensor<TStorage>? gradInput,
                                          ReadOnlySpan<double> mean, ReadOnlySpan<double> invStd, ReadOnlySpan<double> weight,
                                          bool batchStatistics, Span<double> gradWeight, Span<double> gradBias,
                                          IBatchStatisticsExchange? exchange = null, long count = 0)
        where TStorage : unmanaged
    {
        int channels = layout.Channels;
        double inverseCount = 1.0 / (exchange is null ? (long)layout.Batch * layout.Spatial : count);
        BackwardWork<TStorage> work = BackwardWork<TStorage>.ForThisThread;
        work.Layout = layout;
        double[] doubles = ScratchBuffers<double>.BackwardSums(layout.PartialsLength + 3 * channels);
        float[] parameters = ScratchBuffers<float>.BackwardCoefficients(4 * channels);

        fixed (TStorage* px = TensorStorage.Span(x))
        fixed (TStorage* pdy = TensorStorage.Span(dy))
        fixed (TStorage* pdx = gradInput is null ? default : TensorStorage.Span(gradInput))
        fixed (double* pDoubles = doubles)
        fixed (float* pParameters = parameters)
        {
            work.X = px;
            work.Dy = pdy;
            work.Dx = pdx;
            work.Partials = pDoubles;
            work.Mean = pDoubles + layout.PartialsLength;
            work.MeanT = pParameters;
            work.GradMean = pParameters + channels;
            work.K = pParameters + 2 * channels;
            work.Scale = pParameters + 3 * channels;
            work.BatchStatistics = batchStatistics;
            for (int c = 0; c < channels; c++) work.Mean[c] = mean[c];

            work.Phase = BackwardWork<TStorage>.Reduce;
            WorkerPool.For(layout.ReductionItems, work);

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
            // BatchNormBackwardExecution's per-channel finish, in float.
            for (int c = 0; c < channels; c++)
            {
                double sumDy = sumsDy[c], dotP = dots[c];
                // As the float path: the kernel subtracts the mean rounded to float, and what rounding left of it moves
                // into gradMean, in double (see BatchNormBackward's remarks).
                double k = dotP * invStd[c] * invStd[c] * inverseCount;
                float centre = (float)mean[c];
                double rest = float.IsFinite(centre) ? mean[c] - centre : 0;
                work.MeanT[c] = centre;
                work.GradMean[c] = (float)Math.FusedMultiplyAdd(-rest, k, sumDy * inverseCount);
                work.K[c] = (float)k;
                work.Scale[c] = (float)(invStd[c] * weight[c]);
            }

            if (pdx != null)
            {
                work.Phase = BackwardWork<TStorage>.Gradient;
                WorkerPool.For(layout.MapItems, work);
            }
        }
    }

    /// <summary>A statistic as PyTorch keeps it in the input's type: rounded to float (its accumulation type), then to
    /// <typeparamref name="TStorage"/>.</summary>
    private static double InStorageType<TStorage>(double value) where TStorage : unmanaged
    {
        Span<float> single = [(float)value];
        Span<TStorage> stored = stackalloc TStorage[1];
        HalfConversion.Narrow<TStorage>(single, stored);
        HalfConversion.Widen<TStorage>(stored, single);
        return single[0];
    }

    /// <summary>A channel's coefficients: the float layer's (the same <see cref="BatchNormTransform.Coefficients{T}"/>, so
    /// that the result is the float layer's rounded once); with statistics kept in the input's type (no float tensor in the
    /// call), ATen's own float fold, y = fma(x, invStd·w, fma(-mean, invStd·w, b)) with a centre of 0.</summary>
    private static void Fold<TStorage>(ForwardWork<TStorage> work, int c, double mean, double invStd, Span<float> weight, Span<float> bias,
                                       bool statisticsInStorageType)
        where TStorage : unmanaged
    {
        float w = weight.IsEmpty ? 1f : weight[c % weight.Length], b = bias.IsEmpty ? 0f : bias[c % bias.Length];
        if (statisticsInStorageType)
        {
            float alpha = (float)invStd * w;
            (work.Centre[c], work.Alpha[c], work.Beta[c]) = (0f, alpha, MathF.FusedMultiplyAdd(-(float)mean, alpha, b));
            return;
        }

        (work.Centre[c], work.Alpha[c], work.Beta[c]) = BatchNormTransform.Coefficients(mean, invStd, w, b);
    }

    [SkipLocalsInit]
    private sealed class ForwardWork<TStorage> : IParallelWork where TStorage : unmanaged
    {
        public const int Moments = 0, Transform = 1;

        [ThreadStatic]
        private static ForwardWork<TStorage>? cached;

        public TStorage* X, Y;
        public float* Alpha, Beta, Centre;
        public double* Partials;
        public int PartialCount;
        public NormLayout Layout;
        public int Phase;

        public static ForwardWork<TStorage> ForThisThread => cached ??= new ForwardWork<TStorage>();

        public void Run(int index)
        {
            NormLayout l = Layout;
            if (Phase == Moments)
            {
                ReductionPass.Moments(l, X, Partials, PartialCount, index);
                return;
            }

            // The transform, a piece at a time: widen, y = fma(x, alpha, beta) in float, round. A piece is whole planes (rows of
            // C), as many as fit, or a slice of one.
            Span<float> values = stackalloc float[Piece];
            if (l.IsRows)
            {
                (int first, int rows) = l.RowBlock(index);
                int channels = l.Channels;
                if (channels <= Piece)
                {
                    for (int r = 0; r < rows; r += Piece / channels)
                    {
                        int pieceRows = Math.Min(Piece / channels, rows - r);
                        TransformRows(values[..(pieceRows * channels)], (long)(first + r) * channels, pieceRows, 0, channels);
                    }

                    return;
                }

                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < channels; c += Piece)
                        TransformRows(values[..Math.Min(Piece, channels - c)], (long)(first + r) * channels + c, 1, c, Math.Min(Piece, channels - c));
                return;
            }

            (int firstPlane, int endPlane) = l.PlaneBlock(index);
            int spatial = l.Spatial;
            if (spatial <= Piece)
            {
                for (int p = firstPlane; p < endPlane; p += Piece / spatial)
                {
                    int planes = Math.Min(Piece / spatial, endPlane - p);
                    Span<float> piece = values[..(planes * spatial)];
                    long start = (long)p * spatial;
                    HalfConversion.Widen(new ReadOnlySpan<TStorage>(X + start, piece.Length), piece);
                    for (int q = 0; q < planes; q++)
                    {
                        int channel = (p + q) % l.Channels;
                        Span<float> run = piece.Slice(q * spatial, spatial);
                        BatchNormTransform.ApplyRun<float>(run, run, Centre[channel], Alpha[channel], Beta[channel]);
                    }

                    HalfConversion.Narrow<TStorage>(piece, new Span<TStorage>(Y + start, piece.Length));
                }

                return;
            }

            for (int p = firstPlane; p < endPlane; p++)
            {
                int channel = p % l.Channels;
                for (int at = 0; at < spatial; at += Piece)
                {
                    Span<float> piece = values[..Math.Min(Piece, spatial - at)];
                    long start = (long)p * spatial + at;
                    HalfConversion.Widen(new ReadOnlySpan<TStorage>(X + start, piece.Length), piece);
                    BatchNormTransform.ApplyRun<float>(piece, piece, Centre[channel], Alpha[channel], Beta[channel]);
                    HalfConversion.Narrow<TStorage>(piece, new Span<TStorage>(Y + start, piece.Length));
                }
            }
        }

        /// <summary>Rows layout: <paramref name="rows"/> rows of <paramref name="width"/> values from x[start] (channels
        /// [firstChannel, firstChannel + width) of a row when one row does not fit in a piece) through the float kernel.</summary>
        private void TransformRows(Span<float> piece, long start, int rows, int firstChannel, int width)
        {
            HalfConversion.Widen(new ReadOnlySpan<TStorage>(X + start, piece.Length), piece);
            BatchNormTransform.ApplyRows<float>(piece, piece, rows, new ReadOnlySpan<float>(Centre + firstChannel, width),
                                                new ReadOnlySpan<float>(Alpha + firstChannel, width), new ReadOnlySpan<float>(Beta + firstChannel, width));
            HalfConversion.Narrow<TStorage>(piece, new Span<TStorage>(Y + start, piece.Length));
        }
    }

    [SkipLocalsInit]
    private sealed class BackwardWork<TStorage> : IParallelWork where TStorage : unmanaged
    {
        public const int Reduce = 0, Gradient = 1;

        [ThreadStatic]
        private static BackwardWork<TStorage>? cached;

        public TStorage* X, Dy, Dx;
        public float* MeanT, GradMean, K, Scale;
        public double* Partials, Mean;
        public NormLayout Layout;
        public int Phase;
        public bool BatchStatistics;

        public static BackwardWork<TStorage> ForThisThread => cached ??= new BackwardWork<TStorage>();

        public void Run(int index)
        {
            NormLayout l = Layout;
            int channels = l.Channels;
            if (Phase == Reduce)
            {
                ReductionPass.GradientSums(l, X, Dy, Mean, Partials, index, prefetch: false);
                return;
            }

            // dx a piece at a time: x and dy widened, dx computed in float over dy's piece, rounded.
            Span<float> xPiece = stackalloc float[Piece], dyPiece = stackalloc float[Piece];
            if (l.IsRows)
            {
                (int first, int rows) = l.RowBlock(index);
                if (channels <= Piece)
                {
                    for (int r = 0; r < rows; r += Piece / channels)
                    {
                        int pieceRows = Math.Min(Piece / channels, rows - r), length = pieceRows * channels;
                        GradientRows(xPiece[..length], dyPiece[..length], (long)(first + r) * channels, pieceRows, 0, channels);
                    }

                    return;
                }

                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < channels; c += Piece)
                    {
                        int width = Math.Min(Piece, channels - c);
                        GradientRows(xPiece[..width], dyPiece[..width], (long)(first + r) * channels + c, 1, c, width);
                    }

                return;
            }

            (int firstPlane, int endPlane) = l.PlaneBlock(index);
            int spatial = l.Spatial;
            if (spatial <= Piece)
            {
                for (int p = firstPlane; p < endPlane; p += Piece / spatial)
                {
                    int planes = Math.Min(Piece / spatial, endPlane - p), length = planes * spatial;
                    long start = (long)p * spatial;
                    Span<float> xs = xPiece[..length], dys = dyPiece[..length];
                    Widen(xs, dys, start);
                    for (int q = 0; q < planes; q++)
                    {
                        int ch = (p + q) % channels;
                        Span<float> dyRun = dys.Slice(q * spatial, spatial);
                        BatchNormBackward.InputGradientRun<float>(xs.Slice(q * spatial, spatial), dyRun, dyRun, MeanT[ch], GradMean[ch], K[ch], Scale[ch], BatchStatistics);
                    }

                    HalfConversion.Narrow<TStorage>(dys, new Span<TStorage>(Dx + start, length));
                }

                return;
            }

            for (int p = firstPlane; p < endPlane; p++)
            {
                int ch = p % channels;
                for (int at = 0; at < spatial; at += Piece)
                {
                    int length = Math.Min(Piece, spatial - at);
                    long start = (long)p * spatial + at;
                    Span<float> xs = xPiece[..length], dys = dyPiece[..length];
                    Widen(xs, dys, start);
                    BatchNormBackward.InputGradientRun<float>(xs, dys, dys, MeanT[ch], GradMean[ch], K[ch], Scale[ch], BatchStatistics);
                    HalfConversion.Narrow<TStorage>(dys, new Span<TStorage>(Dx + start, length));
                }
            }
        }

        private void Widen(Span<float> xs, Span<float> dys, long start)
        {
            HalfConversion.Widen(new ReadOnlySpan<TStorage>(X + start, xs.Length), xs);
            HalfConversion.Widen(new ReadOnlySpan<TStorage>(Dy + start, dys.Length), dys);
        }

        /// <summary>Rows layout: dx for <paramref name="rows"/> rows of <paramref name="width"/> values from start (channels
        /// [firstChannel, firstChannel + width) of a row when one row does not fit in a piece).</summary>
        private void GradientRows(Span<float> xs, Span<float> dys, long start, int rows, int firstChannel, int width)
        {
            Widen(xs, dys, start);
            BatchNormBackward.InputGradientRows<float>(xs, dys, dys, rows, new ReadOnlySpan<float>(MeanT + firstChannel, width),
                                                       new ReadOnlySpan<float>(GradMean + firstChannel, width), new ReadOnlySpan<float>(K + firstChannel, width),
                                                       new ReadOnlySpan<float>(Scale + firstChannel, width), BatchStatistics);
            HalfConversion.Narrow<TStorage>(dys, new Span<TStorage>(Dx + start, dys.Length));
        }
    }
}
