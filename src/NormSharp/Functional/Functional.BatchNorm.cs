using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

/// <summary>
/// PyTorch's functional normalization ops (<c>torch.nn.functional</c>): argument checks, then kernels.
/// No state: running statistics are updated in the tensors the caller passes. Each op takes float or double tensors, or a
/// float16 (<see cref="Half"/>) or <see cref="BFloat16"/> input with float per-channel tensors (mixed precision).
/// </summary>
public static partial class Functional
{
    /// <summary>
    /// Batch normalization, the twin of <c>torch.nn.functional.batch_norm</c>.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="input">(N, C) or (N, C, *): N samples, C channels, any spatial sizes; or an empty (0) vector, which gives an
    /// empty result (PyTorch accepts it).</param>
    /// <param name="runningMean">(C) running mean, or null. Updated in place (through its strides) when <paramref name="training"/>
    /// is true.</param>
    /// <param name="runningVar">(C) running variance, or null. Updated in place (through its strides) when
    /// <paramref name="training"/> is true.</param>
    /// <param name="weight">(C) scale γ, or null for 1.</param>
    /// <param name="bias">(C) shift β, or null for 0.</param>
    /// <param name="training">True: normalize with the batch's statistics (mean and biased variance over
    /// N and the spatial dimensions) and update the running statistics that are given. False: normalize
    /// with <paramref name="runningMean"/> and <paramref name="runningVar"/>, which are then required.</param>
    /// <param name="momentum">Factor of the running-statistics update (see the remarks).</param>
    /// <param name="eps">Added to the variance inside the square root. PyTorch 2.10+ rules: must be
    /// positive when <paramref name="training"/>, non-negative otherwise.</param>
    /// <returns>A new row-major tensor of the input's shape.</returns>
    /// <remarks>
    /// <c>y = (x - mean) / sqrt(var + eps) * weight + bias</c>, computed as a folded multiply-add
    /// (see <c>Kernels/BatchNormTransform.cs</c>); statistics as in <c>Kernels/ShiftedMoments.cs</c>
    /// (accumulated in double, in an order set by the shape alone); running update as in <c>Kernels/RunningStatistics.cs</c>.
    /// An empty input (a zero length anywhere, or the 1-D shape [0]) returns an empty output, changes no statistic and skips
    /// the length checks, as ATen does; only a weight or bias of length 0 still fails there (ATen reads <c>weight[0]</c>).
    /// The per-channel tensors may have any strides (slices with steps, columns of a matrix, as PyTorch accepts them):
    /// they are read through their own offset and strides, and running statistics are written back the same way, leaving
    /// the memory between their elements untouched. A running statistic this call writes must not repeat an element (a
    /// broadcast view with stride 0). A call that throws changes nothing.
    /// <example>
    /// <code>
    /// var x = Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6 }, [3, 2]);
    /// var runningMean = Tensor.Create(new float[] { 0, 0 }, [2]);
    /// var runningVar = Tensor.Create(new float[] { 1, 1 }, [2]);
    /// Tensor&lt;float&gt; y = Functional.BatchNorm(x, runningMean, runningVar, null, null, training: true);
    /// // runningMean is now 0.1 * [3, 4]
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's.</exception>
    public static Tensor<T> BatchNorm<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar,
                                         Tensor<T>? weight, Tensor<T>? bias,
                                         bool training = false, double momentum = 0.1, double eps = 1e-5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        return BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, null, null, null, allowInPlace: false).Output;
    }

    /// <summary>
    /// <see cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/> writing into
    /// <paramref name="destination"/> instead of a new tensor: no allocation in steady state.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *).</param>
    /// <param name="runningMean">(C) running mean, or null.</param>
    /// <param name="runningVar">(C) running variance, or null.</param>
    /// <param name="weight">(C) scale, or null.</param>
    /// <param name="bias">(C) shift, or null.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="destination">The input's lengths, laid out as the input (row-major, or channels-last for a
    /// channels-last input); may be the input itself (an in-place result), but must not otherwise share memory with any
    /// argument.</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or a tensor the call writes (the
    /// destination; the running statistics in training) shares memory with another argument.</exception>
    public static void BatchNorm<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight, Tensor<T>? bias,
                                    bool training, double momentum, double eps, Tensor<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(destination);
        BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, null, null, destination, allowInPlace: true);
    }

    /// <summary>
    /// The twin of <c>torch.native_batch_norm</c>: <see cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/> that also returns the statistics the
    /// input was normalized with, which <see cref="BatchNormBackward{T}"/> needs.
    /// </summary>
    /// <returns>The output; in training the batch mean and invStd = 1 / sqrt(var_b + eps), shape (C); in
    /// evaluation both saved tensors are empty, as libtorch's CPU kernel returns them.</returns>
    /// <inheritdoc cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)" path="/param"/>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's.</exception>
    public static BatchNormResult<T> NativeBatchNorm<T>(Tensor<T> input, Tensor<T>? weight, Tensor<T>? bias,
                                                        Tensor<T>? runningMean, Tensor<T>? runningVar,
                                                        bool training, double momentum, double eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        (Tensor<T> output, double[] mean, double[] invStd) = NativeBatchNormCore(input, weight, bias, runningMean, runningVar, training, momentum, eps);
        return new BatchNormResult<T>(output, ToTensor<T>(mean), ToTensor<T>(invStd));
    }

    /// <summary><see cref="NativeBatchNorm{T}"/> for any supported input type: the output, and in training the saved statistics
    /// in double (empty in evaluation).</summary>
    private static (Tensor<TInput> Output, double[] Mean, double[] InvStd) NativeBatchNormCore<TInput, T>(
        Tensor<TInput> input, Tensor<T>? weight, Tensor<T>? bias, Tensor<T>? runningMean, Tensor<T>? runningVar, bool training, double momentum, double eps)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        int channels = input.Rank >= 2 ? (int)input.Lengths[1] : 0;
        double[] mean = training ? new double[channels] : [], invStd = training ? new double[channels] : [];
        Tensor<TInput> output = BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, training ? mean : null,
                                              training ? invStd : null, null, allowInPlace: false).Output;
        return (output, mean, invStd);
    }

    /// <summary>
    /// Gradients of batch normalization, the twin of libtorch's <c>native_batch_norm_backward</c>.
    /// </summary>
    /// <param name="gradOutput">dy, the gradient of the loss with respect to the forward's output; the input's shape.</param>
    /// <param name="input">x, the forward's input.</param>
    /// <param name="weight">(C) γ, or null for 1.</param>
    /// <param name="runningMean">(C) used when <paramref name="training"/> is false: the statistics were constants.</param>
    /// <param name="runningVar">(C) used when <paramref name="training"/> is false.</param>
    /// <param name="saveMean">(C) the batch mean a training forward saved (<see cref="NativeBatchNorm{T}"/>).</param>
    /// <param name="saveInvStd">(C) the batch 1 / sqrt(var_b + eps) a training forward saved.</param>
    /// <param name="training">True when the forward normalized with batch statistics.</param>
    /// <param name="eps">The forward's eps (used with the running variance).</param>
    /// <param name="inputGradient">Compute dx.</param>
    /// <param name="weightGradient">Compute Σ dy·x̂.</param>
    /// <param name="biasGradient">Compute Σ dy.</param>
    /// <returns>The requested gradients (null where not requested).</returns>
    /// <remarks>The formulas are in <c>Kernels/BatchNormBackward.cs</c>: with batch statistics,
    /// <c>dx = w·invStd/M · (M·dy - Σdy - x̂·Σ(dy·x̂))</c>; with running statistics, <c>dx = dy·w·invStd</c>.</remarks>
    /// <exception cref="ArgumentException">Shapes do not match, or the statistics the mode needs are missing.</exception>
    public static BatchNormGradients<T> BatchNormBackward<T>(Tensor<T> gradOutput, Tensor<T> input, Tensor<T>? weight,
                                                             Tensor<T>? runningMean, Tensor<T>? runningVar,
                                                             Tensor<T>? saveMean, Tensor<T>? saveInvStd, bool training, double eps,
                                                             bool inputGradient = true, bool weightGradient = true, bool biasGradient = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        (Tensor<T>? dx, double[]? gradWeight, double[]? gradBias) = BatchNormBackwardCore(
            gradOutput, input, weight, runningMean, runningVar, saveMean, saveInvStd, training, eps, inputGradient, weightGradient, biasGradient);
        return new BatchNormGradients<T>(dx, gradWeight is null ? null : ToTensor<T>(gradWeight), gradBias is null ? null : ToTensor<T>(gradBias));
    }

    /// <summary><see cref="BatchNormBackward{T}"/> for any supported input type: dx in the input's type, the parameter
    /// gradients in double (null where not requested).</summary>
    private static (Tensor<TInput>? InputGradient, double[]? WeightGradient, double[]? BiasGradient) BatchNormBackwardCore<TInput, T>(
        Tensor<TInput> gradOutput, Tensor<TInput> input, Tensor<T>? weight, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? saveMean,
        Tensor<T>? saveInvStd, bool training, double eps, bool inputGradient, bool weightGradient, bool biasGradient)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(input);
        Precision.EnsureSupported<TInput, T>();
        if (input.Rank < 2) throw new ArgumentException(TorchMessages.FunctionalRank(input.Rank));
        if (!gradOutput.Lengths.SequenceEqual(input.Lengths))
            throw new ArgumentException($"gradOutput has shape {TorchMessages.FormatShape(gradOutput.Lengths)} but the input has shape {TorchMessages.FormatShape(input.Lengths)}.");
        int channels = (int)input.Lengths[1];
        Tensor<T>? meanSource = training ? saveMean : runningMean;
        Tensor<T>? spreadSource = training ? saveInvStd : runningVar;
        string meanName = training ? "save_mean" : "running_mean", spreadName = training ? "save_invstd" : "running_var";
        if (meanSource is null || spreadSource is null)
            throw new ArgumentException($"{(meanSource is null ? meanName : spreadName)} must be defined when {(training ? "training" : "not training")}.");
        foreach (var (tensor, name) in new[] { (meanSource, meanName), (spreadSource, spreadName), (weight, "weight") })
            if (tensor is not null && tensor.FlattenedLength != channels)
                throw new ArgumentException(TorchMessages.ShouldContainElements(name, channels, (nint)tensor.FlattenedLength));

        var mean = new double[channels];
        var invStd = new double[channels];
        var scale = new double[channels];
        Span<T> meanValues = TensorStorage.Span(TensorStorage.RowMajor(meanSource));
        Span<T> spreadValues = TensorStorage.Span(TensorStorage.RowMajor(spreadSource));
        Span<T> weightValues = weight is null ? default : TensorStorage.Span(TensorStorage.RowMajor(weight));
        for (int c = 0; c < channels; c++)
        {
            mean[c] = double.CreateTruncating(meanValues[c]);
            double spread = double.CreateTruncating(spreadValues[c]);
            invStd[c] = training ? spread : 1.0 / Math.Sqrt(spread + eps);
            scale[c] = weight is null ? 1.0 : double.CreateTruncating(weightValues[c]);
        }

        double[]? gradWeight = weightGradient ? new double[channels] : null;
        double[]? gradBias = biasGradient ? new double[channels] : null;
        Tensor<TInput>? dx = BackwardCore(gradOutput, input, mean, invStd, scale, training, inputGradient, gradWeight, gradBias, null);
        return (dx, gradWeight, gradBias);
    }

    /// <summary>Validation, then the forward kernels; modules call this to keep the statistics for backward.
    /// Returns the output, the input as the kernels read it (the input itself, or a row-major copy) and the number of
    /// values each channel's statistics were taken over.
    /// <typeparamref name="TInput"/>: the input's and output's element type, <typeparamref name="T"/> itself, or Half or
    /// BFloat16 with float per-channel tensors (mixed precision, <see cref="MixedPrecisionExecution"/>).
    /// <paramref name="allowInPlace"/>: whether the destination may be the input's own elements.
    /// <paramref name="exchange"/> (training): the statistics are every process's together; the one-value check is then the
    /// exchange's, on the whole batch's count.</summary>
    internal static (Tensor<TInput> Output, Tensor<TInput> Input, long Count) BatchNormCore<TInput, T>(
        Tensor<TInput> input, Tensor<T>? runningMean, Tensor<T>? runningVar, Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum,
        double eps, double[]? savedMean, double[]? savedInvStd, Tensor<TInput>? destination, bool allowInPlace, IBatchStatisticsExchange? exchange = null)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        Precision.EnsureSupported<TInput, T>();
        exchange = training ? exchange : null;
        string? error = ValidateBatchNorm(input.Lengths, runningMean?.FlattenedLength, runningVar?.FlattenedLength,
                                          weight?.FlattenedLength, bias?.FlattenedLength, training, eps, localBatchIsWhole: exchange is null);
        if (error is not null) throw new ArgumentException(error);
        if (input.Rank < 2) return EmptyVector(input, destination, allowInPlace);

        (Tensor<TInput> x, NormLayout layout) = Readable(input);
        Tensor<TInput> output;
        if (destination is null) output = layout.AllocateLike(x);
        else if (layout.Matches(destination, x.Lengths)) output = destination;
        else throw new ArgumentException(
            $"destination must have the input's shape {TorchMessages.FormatShape(x.Lengths)} and layout ({(layout.IsChannelsLast ? "channels-last" : "row-major")}).",
            nameof(destination));
        EnsureForwardArgumentsApart(input, destination, allowInPlace, runningMean, runningVar, training, weight, bias);
        bool updates = training && (x.FlattenedLength > 0 || exchange is not null);
        if (updates)
        {
            EnsureDistinctElements(runningMean, "running_mean");
            EnsureDistinctElements(runningVar, "running_var");
        }

        // Every check has passed: strided arguments are read through row-major copies, and updated statistics written back.
        Tensor<T>? rm = Dense(runningMean), rv = Dense(runningVar);
        if (x.FlattenedLength == 0)
        {
            savedMean?.AsSpan().Fill(double.NaN);
            savedInvStd?.AsSpan().Fill(double.NaN);
            if (exchange is null) return (output, x, 0);
            long whole = BatchNormExecution.RunEmptyShare((int)x.Lengths[1], rm, rv, momentum, exchange);
            WriteBack(rm, runningMean);
            WriteBack(rv, runningVar);
            return (output, x, whole);
        }

        long count = RunForward(layout, x, output, rm, rv, Dense(weight), Dense(bias), training, momentum, eps, savedMean, savedInvStd,
                                exchange: exchange, statisticsInInputType: WithoutFloatTensors<TInput, T>(runningMean, runningVar, weight, bias));
        if (training)
        {
            WriteBack(rm, runningMean);
            WriteBack(rv, runningVar);
        }

        return (output, x, count);
    }

    /// <summary>The forward kernels (<see cref="BatchNormExecution.Run{T}"/>'s arguments and result): in T when the input is
    /// T, in float over 16-bit storage otherwise (<see cref="MixedPrecisionExecution"/>; T is then float).
    /// <paramref name="statisticsInInputType"/>: a mixed-precision call without any float per-channel tensor, whose statistics
    /// PyTorch keeps in the input's type (<see cref="WithoutFloatTensors"/>).</summary>
    internal static long RunForward<TInput, T>(NormLayout layout, Tensor<TInput> x, Tensor<TInput> y, Tensor<T>? runningMean, Tensor<T>? runningVar,
                                               Tensor<T>? weight, Tensor<T>? bias, bool training, double momentum, double eps,
                                               double[]? savedMean, double[]? savedInvStd, double[]? savedUnbiasedVar = null,
                                               IBatchStatisticsExchange? exchange = null, double[]? savedBiasedVar = null, bool statisticsInInputType = false)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(TInput) == typeof(T)
            ? BatchNormExecution.Run(layout, As<T>(x), As<T>(y), runningMean, runningVar, weight, bias, training, momentum, eps, savedMean, savedInvStd,
                                     savedUnbiasedVar, exchange, savedBiasedVar)
            : MixedPrecisionExecution.Run(layout, x, y, As<float>(runningMean), As<float>(runningVar), As<float>(weight), As<float>(bias), training,
                                          momentum, eps, savedMean, savedInvStd, savedUnbiasedVar, exchange, savedBiasedVar, statisticsInInputType);

    /// <summary>
    /// Whether a call on a 16-bit input has no float per-channel tensor at all (the ones it is given: weight, bias, running
    /// statistics). ATen decides mixed precision from the first defined parameter's type (<c>is_mixed_type</c>); with none,
    /// the op runs in the input's type, and the batch statistics it saves and normalizes with are float16 or bfloat16 values.
    /// </summary>
    internal static bool WithoutFloatTensors<TInput, T>(Tensor<T>? first, Tensor<T>? second, Tensor<T>? third, Tensor<T>? fourth) =>
        typeof(TInput) != typeof(T) && first is null && second is null && third is null && fourth is null;

    /// <summary>A tensor as the type its element type is known to be (the callers have compared the types).</summary>
    [return: NotNullIfNotNull(nameof(tensor))]
    private static Tensor<TTo>? As<TTo>(object? tensor) => (Tensor<TTo>?)tensor;

    /// <summary>
    /// A forward's shared-memory check: the destination (and the running statistics, in training) must not overlap another
    /// argument; the input may be the destination itself when <paramref name="allowInPlace"/>. Tensors of different element
    /// types never share memory (each lies in an array of its own type), so mixed precision checks its two groups apart.
    /// </summary>
    internal static void EnsureForwardArgumentsApart<TInput, T>(Tensor<TInput> input, Tensor<TInput>? destination, bool allowInPlace,
                                                               Tensor<T>? runningMean, Tensor<T>? runningVar, bool runningStatisticsWritten,
                                                               Tensor<T>? weight, Tensor<T>? bias)
    {
        (int, int)? inPlace = allowInPlace ? (0, 1) : null;
        if (typeof(TInput) == typeof(T))
        {
            EnsureNoSharedMemory<T>([new(As<T>(input), "input", false), new(As<T>(destination), "destination", true),
                                     new(runningMean, "running_mean", runningStatisticsWritten), new(runningVar, "running_var", runningStatisticsWritten),
                                     new(weight, "weight", false), new(bias, "bias", false)], inPlace);
            return;
        }

        EnsureNoSharedMemory<TInput>([new(input, "input", false), new(destination, "destination", true)], inPlace);
        EnsureNoSharedMemory<T>([new(runningMean, "running_mean", runningStatisticsWritten), new(runningVar, "running_var", runningStatisticsWritten),
                                 new(weight, "weight", false), new(bias, "bias", false)]);
    }

    /// <summary>
    /// ATen's result for an empty 1-D input (shape [0], which passed every check): an empty output, no statistic touched.
    /// ATen returns <c>input.clone()</c> (times <c>weight[0]</c>, plus <c>bias[0]</c>) before it looks at the channels.
    /// </summary>
    private static (Tensor<T> Output, Tensor<T> Input, long Count) EmptyVector<T>(Tensor<T> input, Tensor<T>? destination, bool allowInPlace)
    {
        Tensor<T> output = destination ?? Tensor.CreateFromShape<T>(input.Lengths);
        if (!output.Lengths.SequenceEqual(input.Lengths))
            throw new ArgumentException($"destination must have the input's shape {TorchMessages.FormatShape(input.Lengths)} and layout (row-major).",
                                        nameof(destination));
        EnsureNoSharedMemory<T>([new(input, "input", false), new(destination, "destination", true)], allowInPlace ? (0, 1) : null);
        return (output, input, 0);
    }

    /// <summary>The input as the kernels can read it: itself when row-major or channels-last, else a row-major copy.</summary>
    internal static (Tensor<T> Tensor, NormLayout Layout) Readable<T>(Tensor<T> input)
    {
        if (NormLayout.TryDescribe(input, out NormLayout layout)) return (input, layout);
        Tensor<T> copy = TensorStorage.RowMajorCopy(input);
        NormLayout.TryDescribe(copy, out layout);
        return (copy, layout);
    }

    /// <summary>The backward kernels over a forward's input and the statistics it used. <paramref name="gradWeight"/>
    /// and <paramref name="gradBias"/> (length C, or empty when not wanted) receive the parameter gradients.
    /// <paramref name="exchange"/>: the forward's statistics were every process's, over <paramref name="count"/> values per
    /// channel; the sums dx needs are summed over the processes (an empty share takes part with zeros).</summary>
    internal static Tensor<T>? BackwardCore<T>(Tensor<T> gradOutput, Tensor<T> input, ReadOnlySpan<double> mean, ReadOnlySpan<double> invStd,
                                               ReadOnlySpan<double> weight, bool batchStatistics, bool inputGradient,
                                               Span<double> gradWeight, Span<double> gradBias, Tensor<T>? destination,
                                               NormLayout? groupedLayout = null, IBatchStatisticsExchange? exchange = null, long count = 0)
        where T : unmanaged
    {
        EnsureNoSharedMemory<T>([new(gradOutput, "gradOutput", false), new(input, "the saved input", false), new(destination, "destination", true)]);

        // groupedLayout: row-major input, dy and destination read with that geometry (InstanceNorm's planes).
        (Tensor<T> x, NormLayout layout) = groupedLayout is NormLayout grouped ? (input, grouped) : Readable(input);
        Tensor<T> dy = gradOutput;
        if (groupedLayout is null && !layout.Matches(dy, x.Lengths))
        {
            // dy laid out differently from x: read both row-major.
            x = layout.IsChannelsLast ? TensorStorage.RowMajorCopy(x) : x;
            dy = TensorStorage.RowMajorCopy(gradOutput);
            NormLayout.TryDescribe(x, out layout);
        }

        Tensor<T>? dx = null;
        if (inputGradient)
        {
            if (destination is null) dx = layout.AllocateLike(x);
            else if (groupedLayout is not null ? destination.Lengths.SequenceEqual(x.Lengths) : layout.Matches(destination, x.Lengths)) dx = destination;
            else throw new ArgumentException($"destination must have the input's shape {TorchMessages.FormatShape(x.Lengths)} and layout.", nameof(destination));
        }

        if (x.FlattenedLength > 0)
        {
            // float and double in their own type; Half and BFloat16 in float (mixed precision).
            if (typeof(T) == typeof(float))
                BatchNormBackwardExecution.Run(layout, As<float>(x), As<float>(dy), As<float>(dx), mean, invStd, weight, batchStatistics, gradWeight, gradBias, exchange, count);
            else if (typeof(T) == typeof(double))
                BatchNormBackwardExecution.Run(layout, As<double>(x), As<double>(dy), As<double>(dx), mean, invStd, weight, batchStatistics, gradWeight, gradBias, exchange, count);
            else
                MixedPrecisionExecution.Backward(layout, x, dy, dx, mean, invStd, weight, batchStatistics, gradWeight, gradBias, exchange, count);
        }
        else
        {
            gradWeight.Clear();
            gradBias.Clear();
            if (exchange is not null && batchStatistics)
            {
                // An empty share still takes part, so that the processes with values are not left waiting.
                int channels = (int)x.Lengths[1];
                Span<double> zeros = ScratchBuffers<double>.BackwardSums(2 * channels).AsSpan(0, 2 * channels);
                zeros.Clear();
                exchange.SumGradientStatistics(zeros[..channels], zeros[channels..]);
            }
        }

        return dx;
    }

    private static Tensor<T> ToTensor<T>(double[] values) where T : IFloatingPointIeee754<T> =>
        Tensor.Create(values.Select(T.CreateTruncating).ToArray(), [values.Length]);

    /// <summary>
    /// Every check of <see cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>, in PyTorch's order, without running it: the first
    /// failing check's message, or null. Modules use it to plan a forward before changing anything.
    /// <c>localBatchIsWhole</c> is false when the batch is spread over several processes: the one-value check then
    /// applies to the whole batch's count, which only the exchange knows.
    /// </summary>
    internal static string? ValidateBatchNorm(ReadOnlySpan<nint> shape, long? runningMeanLength, long? runningVarLength,
                                              long? weightLength, long? biasLength, bool training, double eps, bool localBatchIsWhole = true)
    {
        // An empty 1-D input ([0], an OpInfo sample) is PyTorch's too: every check below that can apply to it runs.
        if (shape.Length < 2 && !(shape.Length == 1 && shape[0] == 0)) return TorchMessages.FunctionalRank(shape.Length);

        // Python's F.batch_norm: _verify_batch_size, then the eps check (PyTorch 2.10+).
        if (training && localBatchIsWhole && ValuesPerChannel(shape) == 1) return TorchMessages.MoreThanOneValuePerChannel(shape);
        if (training && !(eps > 0)) return TorchMessages.EpsMustBePositive(eps);
        if (!training && !(eps >= 0)) return TorchMessages.EpsMustBeNonNegative(eps);

        // ATen: an empty input skips the remaining checks, returning input.clone() * weight[0] + bias[0], and indexing a
        // weight or bias of length 0 fails.
        if (ElementCount(shape) == 0)
            return weightLength == 0 || biasLength == 0 ? TorchMessages.SelectIndexOutOfRange([0]) : null;

        nint channels = shape[1];
        if (runningMeanLength is long rm) { if (rm != channels) return TorchMessages.ShouldContainElements("running_mean", channels, (nint)rm); }
        else if (!training) return TorchMessages.MustBeDefinedInEvaluationMode("running_mean");
        if (runningVarLength is long rv) { if (rv != channels) return TorchMessages.ShouldContainElements("running_var", channels, (nint)rv); }
        else if (!training) return TorchMessages.MustBeDefinedInEvaluationMode("running_var");
        if (weightLength is long w && w != channels) return TorchMessages.ShouldContainElements("weight", channels, (nint)w);
        if (biasLength is long b && b != channels) return TorchMessages.ShouldContainElements("bias", channels, (nint)b);
        return null;
    }

    /// <summary>n, the number of values one channel's statistic is taken over: N · prod(spatial).</summary>
    internal static long ValuesPerChannel(ReadOnlySpan<nint> shape)
    {
        long n = shape.Length > 0 ? shape[0] : 0;
        for (int d = 2; d < shape.Length; d++) n *= shape[d];
        return n;
    }

    private static long ElementCount(ReadOnlySpan<nint> shape)
    {
        long count = 1;
        foreach (nint length in shape) count *= length;
        return count;
    }
}
