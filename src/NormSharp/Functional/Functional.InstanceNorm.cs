using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;
using NormSharp.Kernels;

namespace NormSharp;

public static partial class Functional
{
    /// <summary>
    /// Instance normalization, the twin of <c>torch.nn.functional.instance_norm</c>: each (sample, channel) plane is
    /// normalized with its own mean and biased variance over its spatial values.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="input">(N, C, *): N samples, C channels, the spatial sizes. (No unbatched form here: dim 0 is N.)</param>
    /// <param name="runningMean">(C) running mean, or null.</param>
    /// <param name="runningVar">(C) running variance, or null.</param>
    /// <param name="weight">(C) scale γ, or null for 1.</param>
    /// <param name="bias">(C) shift β, or null for 0.</param>
    /// <param name="useInputStats">True: normalize with each plane's own statistics. False: with the running
    /// statistics, which are then required.</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root (not validated, as in PyTorch).</param>
    /// <returns>A new row-major tensor of the input's shape.</returns>
    /// <remarks>
    /// <para>As ATen does it: the input is seen as (1, N·C, *), normalized as a batch norm of N·C channels, and, whenever
    /// the running statistics are given (whatever <paramref name="useInputStats"/> is), each is written back as the
    /// average over the N samples of <c>(1 - momentum) · running + momentum · stat(sample)</c>, with the unbiased
    /// variance over the plane's values. With running statistics normalizing, that average is of N equal values, so
    /// they do not change (PyTorch's float average of the copies can move them by one unit in the last place;
    /// NormSharp averages in double and keeps them exact). With N = 0 the average is of nothing and they become NaN,
    /// as in PyTorch.</para>
    /// <para>A channels-last or otherwise strided input is copied to row-major first, as ATen's <c>contiguous()</c>;
    /// the output is row-major. The (C) tensors may have any strides, as in PyTorch: they are read, and the running
    /// statistics written back, through their own offset and strides (a written one must not repeat an element).</para>
    /// <example>
    /// <code>
    /// var x = Tensor.Create(new float[] { 1, 2, 3, 4, 10, 20, 30, 40 }, [1, 2, 4]);
    /// Tensor&lt;float&gt; y = Functional.InstanceNorm(x);   // each row of 4 values normalized on its own
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's, and nothing changed.</exception>
    public static Tensor<T> InstanceNorm<T>(Tensor<T> input, Tensor<T>? runningMean = null, Tensor<T>? runningVar = null,
                                            Tensor<T>? weight = null, Tensor<T>? bias = null, bool useInputStats = true,
                                            double momentum = 0.1, double eps = 1e-5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        return InstanceNormCore(input, input.Lengths, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null, null, null, allowInPlace: false,
                                InstanceNormRunningUpdate(input.Lengths, useInputStats, runningMean is not null, runningVar is not null)).Output;
    }

    /// <summary>
    /// <see cref="InstanceNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/> writing
    /// into <paramref name="destination"/>, a row-major tensor of the input's lengths.
    /// </summary>
    /// <param name="input">(N, C, *).</param>
    /// <param name="runningMean">(C) running mean, or null.</param>
    /// <param name="runningVar">(C) running variance, or null.</param>
    /// <param name="weight">(C) scale, or null.</param>
    /// <param name="bias">(C) shift, or null.</param>
    /// <param name="useInputStats">Plane statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="destination">Receives the output; may be the input itself (an in-place result), but must not otherwise
    /// share memory with any argument.</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or a tensor the call writes (the
    /// destination, the running statistics) shares memory with another argument.</exception>
    public static void InstanceNorm<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight, Tensor<T>? bias,
                                       bool useInputStats, double momentum, double eps, Tensor<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(destination);
        InstanceNormCore(input, input.Lengths, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null, null, destination, allowInPlace: true,
                         InstanceNormRunningUpdate(input.Lengths, useInputStats, runningMean is not null, runningVar is not null));
    }

    /// <summary>
    /// Gradients of instance normalization: what libtorch's autograd gives for
    /// <c>F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)</c> (its
    /// <c>native_batch_norm_backward</c> over the (1, N·C, *) view, the parameter gradients summed over the samples), in the
    /// style of <see cref="BatchNormBackward{T}"/>.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="gradOutput">dy, the gradient of the loss with respect to the forward's output; the input's shape.</param>
    /// <param name="input">x, the forward's (N, C, *) input.</param>
    /// <param name="weight">(C) γ, or null for 1.</param>
    /// <param name="runningMean">(C) used when <paramref name="useInputStats"/> is false: the statistics were constants.</param>
    /// <param name="runningVar">(C) used when <paramref name="useInputStats"/> is false.</param>
    /// <param name="useInputStats">True when the forward normalized each plane with its own statistics.</param>
    /// <param name="eps">The forward's eps.</param>
    /// <param name="inputGradient">Compute dx.</param>
    /// <param name="weightGradient">Compute Σ dy·x̂ per channel (over every sample's plane).</param>
    /// <param name="biasGradient">Compute Σ dy per channel.</param>
    /// <returns>The requested gradients (null where not requested): dx of the input's shape (row-major), and (C) weight and
    /// bias gradients.</returns>
    /// <remarks>
    /// No saved statistics are needed: with input statistics each plane's mean and invStd = 1 / sqrt(var_b + eps) are
    /// computed again from <paramref name="input"/> exactly as the forward computed them, so the result is the one a layer's
    /// <c>Backward</c> gives for the same forward. Per (sample, channel) plane of M = S values the formulas are
    /// <see cref="BatchNormBackward{T}"/>'s: <c>dx = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))</c> with input statistics,
    /// <c>dx = dy·w·invStd</c> with running statistics (invStd = 1 / sqrt(running_var + eps)).
    /// <example>
    /// <code>
    /// var x = Tensor.Create(new float[] { 1, 2, 4, 8, 3, 3, 5, 9 }, [1, 2, 4]);
    /// var dy = Tensor.Create(new float[] { 1, 0, 0, 0, 0, 1, 0, 0 }, [1, 2, 4]);
    /// BatchNormGradients&lt;float&gt; g = Functional.InstanceNormBackward(dy, x, null, null, null, useInputStats: true, eps: 1e-5);
    /// // g.Input: dL/dx; g.Weight: Σ dy·x̂ per channel; g.Bias: Σ dy per channel = [1, 1]
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="ArgumentException">The forward's checks fail (<see cref="InstanceNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>'s
    /// messages: spatial size, missing running statistics, lengths), or <paramref name="gradOutput"/> does not have the
    /// input's shape.</exception>
    public static BatchNormGradients<T> InstanceNormBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Tensor<T>? weight,
                                                                Tensor<T>? runningMean, Tensor<T>? runningVar, bool useInputStats, double eps,
                                                                bool inputGradient = true, bool weightGradient = true, bool biasGradient = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        (Tensor<T>? dx, double[]? weightSums, double[]? biasSums) = InstanceNormBackwardCore(
            gradOutput, input, weight, runningMean, runningVar, useInputStats, eps, inputGradient, weightGradient, biasGradient);
        return new BatchNormGradients<T>(dx, weightSums is null ? null : ToTensor<T>(weightSums), biasSums is null ? null : ToTensor<T>(biasSums));
    }

    /// <summary><see cref="InstanceNormBackward{T}"/> for any supported input type: dx in the input's type, the (C) parameter
    /// gradients in double (null where not requested).</summary>
    private static (Tensor<TInput>? InputGradient, double[]? WeightGradient, double[]? BiasGradient) InstanceNormBackwardCore<TInput, T>(
        Tensor<TInput> gradOutput, Tensor<TInput> input, Tensor<T>? weight, Tensor<T>? runningMean, Tensor<T>? runningVar, bool useInputStats,
        double eps, bool inputGradient, bool weightGradient, bool biasGradient)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(input);
        Precision.EnsureSupported<TInput, T>();
        string? error = ValidateInstanceNorm(input.Lengths, runningMean?.FlattenedLength, runningVar?.FlattenedLength,
                                             weight?.FlattenedLength, null, useInputStats);
        if (error is not null) throw new ArgumentException(error);
        if (!gradOutput.Lengths.SequenceEqual(input.Lengths))
            throw new ArgumentException($"gradOutput has shape {TorchMessages.FormatShape(gradOutput.Lengths)} but the input has shape {TorchMessages.FormatShape(input.Lengths)}.");

        int batch = (int)input.Lengths[0], channels = (int)input.Lengths[1];
        int spatial = (int)(ValuesPerChannel(input.Lengths) / Math.Max(1, batch));
        int groups = batch * channels;
        var layout = new NormLayout(1, groups, spatial, spatial == 1, false);
        Tensor<TInput> x = TensorStorage.RowMajor(input);
        var mean = new double[groups];
        var invStd = new double[groups];
        var scale = new double[groups];
        if (x.FlattenedLength > 0)
        {
            if (useInputStats)
            {
                // The forward's statistics, computed again as the forward computed them (its output is not wanted).
                // (Without weight or running statistics the forward is taken to have had no bias either: its statistics are
                // then the input type's, as a mixed-precision forward without float tensors keeps them.)
                RunForward<TInput, T>(layout, x, layout.AllocateLike(x), null, null, null, null, training: true, momentum: 0, eps, mean, invStd,
                                      statisticsInInputType: WithoutFloatTensors<TInput, T>(runningMean, runningVar, weight, null));
            }
            else
            {
                // As the evaluation forward folds them: the mean as stored, invStd in double.
                Span<T> rm = TensorStorage.Span(Dense(runningMean)!), rv = TensorStorage.Span(Dense(runningVar)!);
                for (int g = 0; g < groups; g++)
                {
                    mean[g] = double.CreateTruncating(rm[g % channels]);
                    invStd[g] = 1.0 / Math.Sqrt(double.CreateTruncating(rv[g % channels]) + eps);
                }
            }
        }

        Span<T> w = weight is null ? default : TensorStorage.Span(Dense(weight)!);
        for (int g = 0; g < groups; g++) scale[g] = w.IsEmpty ? 1.0 : double.CreateTruncating(w[g % channels]);
        double[]? planeWeight = weightGradient ? new double[groups] : null, planeBias = biasGradient ? new double[groups] : null;
        Tensor<TInput>? dx = BackwardCore(TensorStorage.RowMajor(gradOutput), x, mean, invStd, scale, useInputStats, inputGradient,
                                          planeWeight, planeBias, null, layout);
        return (dx, SumOverSamples(planeWeight, channels), SumOverSamples(planeBias, channels));
    }

    /// <summary>Per-channel sums of per-plane values: channel c is the sum over the samples of plane n·C + c, in sample order.</summary>
    private static double[]? SumOverSamples(double[]? planes, int channels)
    {
        if (planes is null) return null;
        var sums = new double[channels];
        for (int c = 0; c < channels; c++)
            for (int g = c; g < planes.Length; g += channels) sums[c] += planes[g];
        return sums;
    }

    /// <summary>Validation, the kernels over the (1, N·C, *) view, then the running-statistics write-back. Returns the
    /// output, the input as the kernels read it (row-major) and that view's layout, which backward needs;
    /// <paramref name="savedMean"/> and <paramref name="savedInvStd"/> (length N·C, when given) receive each plane's
    /// statistics. <paramref name="batchedShape"/> is the (N, C, *) shape the input's memory is read as (a module's
    /// unbatched input is a batch of one); the output has the input's own lengths. <paramref name="allowInPlace"/>: whether
    /// the destination may be the input's own elements. <paramref name="update"/>: what happens to the running statistics,
    /// as <see cref="InstanceNormRunningUpdate"/> decides it (the caller decides, once). <paramref name="observer"/> (with input
    /// statistics): handed each plane's (mean, m2, count) before the running update, as the executor hands an exchange; it
    /// must leave them as they are (a module's recalibration recorder).</summary>
    internal static (Tensor<TInput> Output, Tensor<TInput> Input, NormLayout Layout) InstanceNormCore<TInput, T>(
        Tensor<TInput> input, ReadOnlySpan<nint> batchedShape, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight,
        Tensor<T>? bias, bool useInputStats, double momentum, double eps, double[]? savedMean, double[]? savedInvStd, Tensor<TInput>? destination,
        bool allowInPlace, RunningUpdate update, IBatchStatisticsExchange? observer = null)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        Precision.EnsureSupported<TInput, T>();
        string? error = ValidateInstanceNorm(batchedShape, runningMean?.FlattenedLength, runningVar?.FlattenedLength,
                                             weight?.FlattenedLength, bias?.FlattenedLength, useInputStats);
        if (error is not null) throw new ArgumentException(error);
        if (destination is not null && (!TensorStorage.IsRowMajor(destination) || !destination.Lengths.SequenceEqual(input.Lengths)))
            throw new ArgumentException($"destination must be a row-major tensor of the input's shape {TorchMessages.FormatShape(input.Lengths)}.",
                                        nameof(destination));
        EnsureForwardArgumentsApart(input, destination, allowInPlace, runningMean, runningVar, runningStatisticsWritten: true, weight, bias);
        if (update is RunningUpdate.Blend or RunningUpdate.BecomesNaN)
        {
            EnsureDistinctElements(runningMean, "running_mean");
            EnsureDistinctElements(runningVar, "running_var");
        }

        // Every check has passed: strided arguments are read through row-major copies, and updated statistics written back.
        Tensor<T>? rm = Dense(runningMean), rv = Dense(runningVar);
        int batch = (int)batchedShape[0], channels = (int)batchedShape[1];
        int spatial = (int)(ValuesPerChannel(batchedShape) / Math.Max(1, batch));
        int groups = batch * channels;
        var layout = new NormLayout(1, groups, spatial, spatial == 1, false);
        Tensor<TInput> x = TensorStorage.RowMajor(input);
        Tensor<TInput> output = destination ?? Tensor.CreateFromShapeUninitialized<TInput>(input.Lengths);

        if (x.FlattenedLength == 0)
        {
            savedMean?.AsSpan().Fill(double.NaN);
            savedInvStd?.AsSpan().Fill(double.NaN);
            // ATen averages the N planes' running values: over N = 0 that is NaN; otherwise the values stay.
            if (update == RunningUpdate.BecomesNaN)
            {
                rm?.Fill(T.NaN);
                rv?.Fill(T.NaN);
                WriteBack(rm, runningMean);
                WriteBack(rv, runningVar);
            }

            return (output, x, layout);
        }

        bool updates = update == RunningUpdate.Blend;
        double[]? planeMean = updates ? savedMean ?? new double[groups] : savedMean;
        double[]? planeVar = updates ? ScratchBuffers<double>.PlaneVariances(groups) : null;
        Tensor<T>? normalizingMean = useInputStats ? null : rm, normalizingVar = useInputStats ? null : rv;
        RunForward(layout, x, output, normalizingMean, normalizingVar, Dense(weight), Dense(bias), useInputStats, momentum, eps, planeMean,
                   savedInvStd, planeVar, exchange: useInputStats ? observer : null,
                   statisticsInInputType: WithoutFloatTensors<TInput, T>(runningMean, runningVar, weight, bias));
        if (updates)
        {
            UpdateInstanceRunningStatistics(TensorStorage.Span(rm!), planeMean!, batch, momentum);
            UpdateInstanceRunningStatistics(TensorStorage.Span(rv!), planeVar!, batch, momentum);
            WriteBack(rm, runningMean);
            WriteBack(rv, runningVar);
        }

        return (output, x, layout);
    }

    /// <summary>
    /// The running-statistics rule of <c>instance_norm</c>, decided here for the functional op and for the modules alike:
    /// with a batch of 0 the average over no samples makes the given buffers NaN (in any mode, as ATen writes them back
    /// whenever they are given); an input with no values otherwise leaves them; with input statistics and both buffers
    /// given they are blended; with running statistics normalizing they keep their values.
    /// </summary>
    /// <param name="batchedShape">The (N, C, *) shape the input is read as.</param>
    /// <param name="useInputStats">Whether each plane's own statistics normalize.</param>
    /// <param name="hasRunningMean">Whether running_mean is given.</param>
    /// <param name="hasRunningVar">Whether running_var is given.</param>
    internal static RunningUpdate InstanceNormRunningUpdate(ReadOnlySpan<nint> batchedShape, bool useInputStats, bool hasRunningMean, bool hasRunningVar)
    {
        if (!hasRunningMean && !hasRunningVar) return RunningUpdate.NoBuffers;
        if (batchedShape.Length >= 1 && batchedShape[0] == 0) return RunningUpdate.BecomesNaN;
        if (ElementCount(batchedShape) == 0) return RunningUpdate.EmptyInput;
        return useInputStats && hasRunningMean && hasRunningVar ? RunningUpdate.Blend : RunningUpdate.ReadOnly;
    }

    /// <summary>running[c] = average over the N samples of Blend(running[c], stat[n·C + c], momentum), each blend stored as T
    /// (ATen's repeated buffer), the average taken in double.</summary>
    private static void UpdateInstanceRunningStatistics<T>(Span<T> running, ReadOnlySpan<double> planeStatistic, int batch, double momentum)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = running.Length;
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++)
                sum += double.CreateTruncating(RunningStatistics.Blend(running[c], planeStatistic[n * channels + c], momentum));
            running[c] = T.CreateTruncating(sum / batch);
        }
    }

    /// <summary>
    /// Every check of <see cref="InstanceNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>
    /// in PyTorch's order (Python's spatial-size check, ATen's running-statistics check, then batch_norm's element counts
    /// over the N·C planes): the first failing check's message, or null.
    /// </summary>
    internal static string? ValidateInstanceNorm(ReadOnlySpan<nint> shape, long? runningMeanLength, long? runningVarLength,
                                                 long? weightLength, long? biasLength, bool useInputStats)
    {
        if (shape.Length < 2) return TorchMessages.InstanceNormFunctionalRank(shape.Length);
        long spatial = 1;
        for (int d = 2; d < shape.Length; d++) spatial *= shape[d];
        if (useInputStats && spatial == 1) return TorchMessages.MoreThanOneSpatialElement(shape);
        if (!useInputStats && (runningMeanLength is null || runningVarLength is null)) return TorchMessages.InstanceNormNeedsRunningStatistics;
        nint batch = shape[0], channels = shape[1], groups = shape[0] * shape[1];
        // libtorch 2.10 fails when N·C is 0 with weight or bias: the parameters repeated N times are empty, and batch_norm's
        // empty-input path indexes them ([0] of an empty tensor); so do we.
        if (groups == 0 && (weightLength is not null || biasLength is not null)) return TorchMessages.SelectIndexOutOfRange([0]);
        if (ElementCount(shape) == 0)
        {
            // ATen writes the running statistics back even for an empty input: the N-times repeated buffer viewed as
            // (N, C), averaged over N and copied (broadcasting) into the buffer. Both steps fail on a channel mismatch.
            return WriteBack(runningMeanLength) ?? WriteBack(runningVarLength);

            string? WriteBack(long? length) => length switch
            {
                null => null,
                long l when batch > 0 && l != channels => TorchMessages.ViewShapeInvalid(batch, channels, batch * l),
                long l when batch == 0 && l != channels && channels != 1 => TorchMessages.SizesMustMatch(l, channels),
                _ => null,
            };
        }

        return Repeated(runningMeanLength, "running_mean") ?? Repeated(runningVarLength, "running_var")
               ?? Repeated(weightLength, "weight") ?? Repeated(biasLength, "bias");

        // ATen repeats each (C) tensor N times and checks it against the N·C planes.
        string? Repeated(long? length, string name) =>
            length is long l && batch * l != groups ? TorchMessages.ShouldContainElements(name, groups, (nint)(batch * l)) : null;
    }
}
