using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

/// <summary>
/// Folds a normalization layer in evaluation mode into the linear layer or convolution before it, and unfolds it again.
/// </summary>
/// <remarks>
/// <para>In evaluation with running statistics a BatchNorm is an affine map per channel, so it merges into the preceding
/// layer's weight and bias. Per output channel o, with s_o = weight_o / sqrt(running_var_o + eps) (weight 1 without affine):</para>
/// <code>
/// W'[o, ...] = W[o, ...] · s_o                 b'_o = (b_o - running_mean_o) · s_o + bias_o      (b_o = 0 without a bias)
/// </code>
/// <para>computed in double, stored in the weight's element type. "Output channel o" is row o of a linear layer's
/// <c>[out, in]</c> weight and of a convolution's <c>[out, in/groups, k...]</c> (any groups), and for a transposed
/// convolution's <c>[in, out/groups, k...]</c> the column j of the rows of group g, o = g·(out/groups) + j
/// (<see cref="FoldTarget"/>).</para>
/// <para>Refused, with a message that says why: a layer whose forward would normalize with batch statistics (training
/// mode, or no running statistics: no fixed weight reproduces that), an uninitialized lazy layer, a counter of 0 (running
/// statistics never updated by a batch: still mean 0 and variance 1) unless <c>force</c>, running statistics or affine
/// parameters that are not finite, a negative running_var (or running_var + eps = 0), and shapes that do not fit.</para>
/// </remarks>
public static class Folding
{
    /// <summary>
    /// The preceding layer's weight and bias with <paramref name="layer"/> folded in (see <see cref="Folding"/> for the
    /// formula); optionally checked on a probe input (<see cref="FoldCheck"/>). Neither the tensors nor the layer change.
    /// </summary>
    /// <typeparam name="T">The weight's element type, float or double.</typeparam>
    /// <typeparam name="TNorm">The normalization layer's element type.</typeparam>
    /// <param name="weight">The preceding layer's weight: <c>[out, in]</c>, <c>[out, in/groups, k...]</c> or (transposed)
    /// <c>[in, out/groups, k...]</c>; any strides.</param>
    /// <param name="bias">Its bias, shape (out), or null when it has none.</param>
    /// <param name="layer">The normalization layer after it, in evaluation mode with running statistics.</param>
    /// <param name="target">What the preceding layer is; null infers a linear layer from a weight of rank 2 and a
    /// convolution of one group from rank 3 or more (the groups of a convolution only matter for the check; a
    /// transposed convolution must be named).</param>
    /// <param name="force">Fold even when the counter is 0 (running statistics set on purpose, not by training).</param>
    /// <param name="check">Check the result on a probe input (<see cref="FoldResult{T}.Check"/>).</param>
    /// <returns>The folded weight and bias (new row-major tensors) and the check.</returns>
    /// <exception cref="ArgumentException">The fold is refused; the message says why; nothing changed.</exception>
    /// <example>
    /// <code>
    /// bn.Eval();
    /// FoldResult&lt;float&gt; folded = Folding.FoldInto(convWeight, convBias: null, bn, FoldTarget.Convolution());
    /// // folded.Weight, folded.Bias replace the convolution's; folded.Check!.MaxAbsoluteDifference is about 1e-7
    /// </code>
    /// </example>
    public static FoldResult<T> FoldInto<T, TNorm>(Tensor<T> weight, Tensor<T>? bias, NormBase<TNorm> layer, FoldTarget? target = null,
                                                   bool force = false, bool check = true)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TNorm : unmanaged, IFloatingPointIeee754<TNorm>
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(layer);
        Precision.EnsureSupported<T>();
        FoldTarget kind = target ?? FoldTarget.Infer(weight.Rank);
        int channels = OutputChannels(weight.Lengths, kind);
        CheckBias(bias, channels);
        NormStatistics statistics = Statistics(layer, weight.Rank, kind, channels, force);

        double[] w = Doubles(weight), b = bias is null ? new double[channels] : Doubles(bias);
        double[] scale = new double[channels], foldedBias = new double[channels];
        for (int o = 0; o < channels; o++)
        {
            scale[o] = statistics.Weight[o] / Math.Sqrt(statistics.Var[o] + statistics.Eps);
            foldedBias[o] = (b[o] - statistics.Mean[o]) * scale[o] + statistics.Bias[o];
        }

        var foldedWeight = new T[w.Length];
        ChannelMap map = ChannelMap.Of(weight.Lengths, kind);
        for (int e = 0; e < w.Length; e++) foldedWeight[e] = T.CreateTruncating(w[e] * scale[map.OutputChannel(e)]);
        var result = new FoldResult<T>(Tensor.Create(foldedWeight, weight.Lengths), Tensor.Create(foldedBias.Select(T.CreateTruncating).ToArray(), [channels]), null);
        return check ? result with { Check = Probe(weight.Lengths, kind, w, bias is null ? null : b, statistics, Doubles(result.Weight), Doubles(result.Bias)) } : result;
    }

    /// <summary>
    /// Checks a folded weight and bias, however they were made (another tool's fold, tensors rounded to half precision
    /// for storage), against the layer and normalization they replace, on a probe input (<see cref="FoldCheck"/>).
    /// </summary>
    /// <typeparam name="T">The weights' element type.</typeparam>
    /// <typeparam name="TNorm">The normalization layer's element type.</typeparam>
    /// <param name="weight">The preceding layer's original weight.</param>
    /// <param name="bias">Its original bias, or null.</param>
    /// <param name="layer">The normalization layer, in evaluation mode with running statistics.</param>
    /// <param name="foldedWeight">The folded weight, the original's shape.</param>
    /// <param name="foldedBias">The folded bias, shape (out).</param>
    /// <param name="target">What the preceding layer is (null: inferred, as for <see cref="FoldInto{T, TNorm}"/>).</param>
    /// <returns>The largest difference between the original pair's and the folded layer's outputs.</returns>
    /// <exception cref="ArgumentException">As <see cref="FoldInto{T, TNorm}"/> (a counter of 0 is accepted), or the folded
    /// tensors' shapes differ from the original's.</exception>
    public static FoldCheck Check<T, TNorm>(Tensor<T> weight, Tensor<T>? bias, NormBase<TNorm> layer, Tensor<T> foldedWeight, Tensor<T> foldedBias,
                                            FoldTarget? target = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TNorm : unmanaged, IFloatingPointIeee754<TNorm>
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(foldedWeight);
        ArgumentNullException.ThrowIfNull(foldedBias);
        Precision.EnsureSupported<T>();
        FoldTarget kind = target ?? FoldTarget.Infer(weight.Rank);
        int channels = OutputChannels(weight.Lengths, kind);
        CheckBias(bias, channels);
        if (!foldedWeight.Lengths.SequenceEqual(weight.Lengths))
            throw new ArgumentException($"foldedWeight has shape {TorchMessages.FormatShape(foldedWeight.Lengths)}, not the weight's {TorchMessages.FormatShape(weight.Lengths)}.", nameof(foldedWeight));
        CheckBias(foldedBias, channels);
        NormStatistics statistics = Statistics(layer, weight.Rank, kind, channels, force: true);
        return Probe(weight.Lengths, kind, Doubles(weight), bias is null ? null : Doubles(bias), statistics, Doubles(foldedWeight), Doubles(foldedBias));
    }

    /// <summary>
    /// The inverse of a fold: the folded layer's weight, no bias, and a BatchNorm after it that makes the pair compute,
    /// in evaluation mode, what the folded layer computes, so the normalization can be fine-tuned again. With running
    /// statistics m and v (by default 0 and 1: an identity BatchNorm), the BatchNorm's weight is sqrt(v + eps) and its
    /// bias m + b', so that <c>(z - m) / sqrt(v + eps) · sqrt(v + eps) + m + b' = z + b'</c> for z = W'·x. Give the
    /// statistics z really has (recalibrate the identity layer on data with <see cref="Recalibration"/>, then unfold again
    /// with its running statistics) and training mode, which normalizes with batch statistics, starts near the folded
    /// function too.
    /// </summary>
    /// <typeparam name="T">The element type, float or double.</typeparam>
    /// <param name="weight">The folded weight.</param>
    /// <param name="bias">The folded bias, shape (out).</param>
    /// <param name="target">What the layer is (null: inferred from the weight's rank, as for <see cref="FoldInto{T, TNorm}"/>).</param>
    /// <param name="eps">The new BatchNorm's eps, greater than 0.</param>
    /// <param name="runningMean">The new BatchNorm's running_mean, shape (out): the mean of z = W'·x; null for zeros.</param>
    /// <param name="runningVar">The new BatchNorm's running_var, shape (out), the variance of z, finite and not negative;
    /// null for ones.</param>
    /// <returns>The weight (a copy), no bias, and a new BatchNorm1d (linear layer, 1-d convolution), 2d or 3d in evaluation
    /// mode, affine, tracking, its counter 0 (folding it back needs <c>force</c>, or training first).</returns>
    /// <exception cref="ArgumentException">A shape does not fit, eps is not positive, or a statistic is not finite.</exception>
    public static UnfoldResult<T> Unfold<T>(Tensor<T> weight, Tensor<T> bias, FoldTarget? target = null, double eps = 1e-5,
                                            Tensor<T>? runningMean = null, Tensor<T>? runningVar = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        Precision.EnsureSupported<T>();
        FoldTarget kind = target ?? FoldTarget.Infer(weight.Rank);
        int channels = OutputChannels(weight.Lengths, kind);
        CheckBias(bias, channels);
        if (!(eps > 0) || !double.IsFinite(eps))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive and finite: the new BatchNorm's training forward needs eps > 0.");
        double[] mean = runningMean is null ? new double[channels] : PerChannel(runningMean, channels, "runningMean");
        double[] variance = runningVar is null ? Enumerable.Repeat(1.0, channels).ToArray() : PerChannel(runningVar, channels, "runningVar");
        for (int o = 0; o < channels; o++)
        {
            if (!double.IsFinite(mean[o])) throw new ArgumentException($"runningMean is {Number(mean[o])} in channel {o}: statistics must be finite.", nameof(runningMean));
            if (!(variance[o] >= 0) || !double.IsFinite(variance[o]))
                throw new ArgumentException($"runningVar is {Number(variance[o])} in channel {o}: a variance must be finite and not negative.", nameof(runningVar));
        }

        BatchNorm<T> norm = weight.Rank switch
        {
            2 or 3 => new BatchNorm1d<T>(channels, eps),
            4 => new BatchNorm2d<T>(channels, eps),
            5 => new BatchNorm3d<T>(channels, eps),
            _ => throw new ArgumentException(
                $"a weight of rank {weight.Rank} ({TorchMessages.FormatShape(weight.Lengths)}) has no BatchNorm to follow it: BatchNorm1d, 2d and 3d follow layers of rank 2 to 5.", nameof(weight)),
        };
        double[] b = Doubles(bias);
        Span<T> normWeight = norm.Weight!.Data.GetSpan([0], channels), normBias = norm.Bias!.Data.GetSpan([0], channels);
        Span<T> normMean = norm.RunningMean!.GetSpan([0], channels), normVar = norm.RunningVar!.GetSpan([0], channels);
        for (int o = 0; o < channels; o++)
        {
            normMean[o] = T.CreateTruncating(mean[o]);
            normVar[o] = T.CreateTruncating(variance[o]);
            normWeight[o] = T.CreateTruncating(Math.Sqrt(double.CreateTruncating(normVar[o]) + eps));
            normBias[o] = T.CreateTruncating(double.CreateTruncating(normMean[o]) + b[o]);
        }

        norm.Eval();
        return new UnfoldResult<T>(Tensor.Create(Doubles(weight).Select(T.CreateTruncating).ToArray(), weight.Lengths), null, norm);
    }

    /// <summary>A normalization layer's evaluation-mode numbers, in double: what the fold and its check use.</summary>
    private sealed record NormStatistics(double[] Mean, double[] Var, double[] Weight, double[] Bias, double Eps);

    /// <summary>The output channels the weight has for its kind of layer, after checking its rank and groups.</summary>
    private static int OutputChannels(ReadOnlySpan<nint> weight, FoldTarget kind)
    {
        string text = TorchMessages.FormatShape(weight);
        switch (kind.Kind)
        {
            case FoldTargetKind.Linear:
                if (weight.Length != 2) throw new ArgumentException($"a linear layer's weight is [out, in]; this one has shape {text}.", nameof(weight));
                return (int)weight[0];
            case FoldTargetKind.Convolution:
                if (weight.Length < 3) throw new ArgumentException($"a convolution's weight is [out, in/groups, k...] (rank 3 or more); this one has shape {text}.", nameof(weight));
                if (weight[0] % kind.Groups != 0)
                    throw new ArgumentException($"a convolution of {kind.Groups} groups has a multiple of {kind.Groups} output channels; the weight {text} has {weight[0]} (dim 0 of [out, in/groups, k...]).", nameof(weight));
                return (int)weight[0];
            default:
                if (weight.Length < 3) throw new ArgumentException($"a transposed convolution's weight is [in, out/groups, k...] (rank 3 or more); this one has shape {text}.", nameof(weight));
                if (weight[0] % kind.Groups != 0)
                    throw new ArgumentException($"a transposed convolution of {kind.Groups} groups has a multiple of {kind.Groups} input channels; the weight {text} has {weight[0]} (dim 0 of [in, out/groups, k...]).", nameof(weight));
                return (int)(weight[1] * kind.Groups);
        }
    }

    private static void CheckBias<T>(Tensor<T>? bias, int channels, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(bias))] string name = "bias")
    {
        if (bias is not null && (bias.Rank != 1 || bias.Lengths[0] != channels))
            throw new ArgumentException($"{name} has shape {TorchMessages.FormatShape(bias.Lengths)}; the layer has {channels} output channels, so it must have shape [{channels}].", name);
    }

    /// <summary>Every refusal that concerns the normalization layer, then its numbers in double.</summary>
    private static NormStatistics Statistics<TNorm>(NormBase<TNorm> layer, int weightRank, FoldTarget kind, int channels, bool force)
        where TNorm : unmanaged, IFloatingPointIeee754<TNorm>
    {
        string name = $"the {layer.ModuleName}";
        if (layer.HasUninitializedParameters)
            throw new ArgumentException($"{name} has not been initialized (a lazy layer before its first forward or load): it has no statistics to fold.", nameof(layer));
        if (kind.Kind == FoldTargetKind.Linear && layer is InstanceNorm<TNorm>)
            throw new ArgumentException($"{name} normalizes over spatial positions, which a linear layer's (N, C) output does not have; only a BatchNorm folds into a linear layer.", nameof(layer));
        string layerKind = kind.Kind switch { FoldTargetKind.Linear => "linear layer", FoldTargetKind.Convolution => "convolution", _ => "transposed convolution" };
        if (layer.NumFeatures != channels)
            throw new ArgumentException(
                $"{name} normalizes {layer.NumFeatures} channels but the {layerKind} has {channels} output channels " +
                $"({(kind.Kind == FoldTargetKind.TransposedConvolution ? $"dim 1 of [in, out/groups, k...] times {kind.Groups} groups" : "dim 0 of its weight")}).", nameof(layer));

        // The decision the layer's own forward would take, on an output of the preceding layer's rank.
        nint[] output = [2, channels, .. Enumerable.Repeat((nint)2, weightRank - 2)];
        ForwardPlan plan = layer.Explain(output);
        if (plan.Error is not null)
            throw new ArgumentException($"{name} cannot take the {layerKind}'s output (shape {TorchMessages.FormatShape(output)}, N and spatial sizes 2): {plan.Error}", nameof(layer));
        if (plan.NormalizeWith != StatisticsSource.Running)
        {
            string why = layer.Training
                ? "is in training mode: its forward normalizes with each batch's own statistics, which no fixed weight and bias reproduce. Call Eval() before folding."
                : !plan.HasRunningStatistics
                    ? "has no running statistics (built with trackRunningStats: false): even in evaluation mode its forward normalizes with each batch's own statistics, which no fixed weight and bias reproduce."
                    : "has TrackRunningStats false: its forward normalizes each sample with its own statistics, which no fixed weight and bias reproduce.";
            throw new ArgumentException($"{name} {why}", nameof(layer));
        }

        if (layer.NumBatchesTracked == 0 && !force)
            throw new ArgumentException(
                $"{name} has num_batches_tracked = 0: its running statistics were never updated by a training batch (still the initial mean 0 and " +
                "variance 1, unless set by hand), so folding them would bake untrained statistics into the weights. Train or recalibrate it first " +
                "(Recalibration), or pass force: true if the statistics were set on purpose.", nameof(layer));

        if (!(layer.Eps >= 0) || !double.IsFinite(layer.Eps))
            throw new ArgumentException($"{name} has eps = {Number(layer.Eps)}: eps must be finite and not negative.", nameof(layer));
        double[] mean = Doubles(layer.RunningMean!), variance = Doubles(layer.RunningVar!);
        double[] weight = layer.Weight is null ? Enumerable.Repeat(1.0, channels).ToArray() : Doubles(layer.Weight.Data);
        double[] bias = layer.Bias is null ? new double[channels] : Doubles(layer.Bias.Data);
        for (int o = 0; o < channels; o++)
        {
            if (!double.IsFinite(mean[o])) throw Refused($"running_mean is {Number(mean[o])} in channel {o}");
            if (double.IsNaN(variance[o]) || double.IsInfinity(variance[o])) throw Refused($"running_var is {Number(variance[o])} in channel {o}");
            if (variance[o] < 0) throw Refused($"running_var is negative ({Number(variance[o])}) in channel {o}, which no variance can be");
            if (variance[o] + layer.Eps == 0) throw Refused($"running_var + eps is 0 in channel {o}, so the scale weight / sqrt(running_var + eps) is infinite");
            if (!double.IsFinite(weight[o]) || !double.IsFinite(bias[o]))
                throw Refused($"its {(double.IsFinite(weight[o]) ? "bias" : "weight")} is {Number(double.IsFinite(weight[o]) ? bias[o] : weight[o])} in channel {o}");
        }

        return new NormStatistics(mean, variance, weight, bias, layer.Eps);

        ArgumentException Refused(string what) =>
            new($"{name} cannot be folded: {what}; a folded weight would not be finite or would not be what the layer computes. Recalibrate or repair the statistics first.", nameof(layer));
    }

    /// <summary>Where a weight element's output channel is: row-major [A, B, K] with K the kernel's size.</summary>
    private readonly record struct ChannelMap(int Rows, int Columns, int Kernel, int RowsPerGroup, bool Transposed)
    {
        public static ChannelMap Of(ReadOnlySpan<nint> shape, FoldTarget kind)
        {
            int kernel = 1;
            for (int d = 2; d < shape.Length; d++) kernel *= (int)shape[d];
            return new ChannelMap((int)shape[0], (int)shape[1], kernel, (int)shape[0] / kind.Groups, kind.Kind == FoldTargetKind.TransposedConvolution);
        }

        public int OutputChannel(int element)
        {
            int row = element / (Columns * Kernel);
            return Transposed ? row / RowsPerGroup * Columns + element / Kernel % Columns : row;
        }
    }

    /// <summary>The original pair (preceding layer, then the normalization by its definition) against the folded layer, on
    /// a probe input, both in double.</summary>
    private static FoldCheck Probe(ReadOnlySpan<nint> shape, FoldTarget kind, double[] weight, double[]? bias, NormStatistics statistics,
                                   double[] foldedWeight, double[] foldedBias)
    {
        int[] weightShape = shape.ToArray().Select(l => (int)l).ToArray();
        int channels = foldedBias.Length;
        var random = new Random(20240611);
        long[] probe;
        double[] original, result;
        if (kind.Kind == FoldTargetKind.Linear)
        {
            probe = [2, weightShape[1]];
            double[] x = ProbeValues(random, 2 * weightShape[1]);
            original = ReferenceLayers.Linear(x, 2, weight, channels, bias);
            result = ReferenceLayers.Linear(x, 2, foldedWeight, channels, foldedBias);
        }
        else
        {
            bool transposed = kind.Kind == FoldTargetKind.TransposedConvolution;
            int inputs = transposed ? weightShape[0] : weightShape[1] * kind.Groups;
            int[] spatial = weightShape[2..].Select(k => transposed ? 2 : k + 1).ToArray();
            probe = [1, inputs, .. spatial.Select(s => (long)s)];
            double[] x = ProbeValues(random, inputs * spatial.Aggregate(1, (a, s) => a * s));
            original = transposed
                ? ReferenceLayers.TransposedConvolution(x, spatial, weight, weightShape, kind.Groups, bias)
                : ReferenceLayers.Convolution(x, spatial, weight, weightShape, kind.Groups, bias);
            result = transposed
                ? ReferenceLayers.TransposedConvolution(x, spatial, foldedWeight, weightShape, kind.Groups, foldedBias)
                : ReferenceLayers.Convolution(x, spatial, foldedWeight, weightShape, kind.Groups, foldedBias);
        }

        // The normalization in evaluation, by its definition: (z - mean) / sqrt(var + eps) · weight + bias.
        int plane = original.Length / Math.Max(1, channels * (kind.Kind == FoldTargetKind.Linear ? 2 : 1));
        double difference = 0, largest = 0;
        for (int e = 0; e < original.Length; e++)
        {
            int o = kind.Kind == FoldTargetKind.Linear ? e % channels : e / plane;
            double expected = (original[e] - statistics.Mean[o]) / Math.Sqrt(statistics.Var[o] + statistics.Eps) * statistics.Weight[o] + statistics.Bias[o];
            difference = Math.Max(difference, Math.Abs(expected - result[e]));
            largest = Math.Max(largest, Math.Abs(expected));
        }

        return new FoldCheck(probe, difference, largest);
    }

    private static double[] ProbeValues(Random random, int length)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++) values[i] = 2 * random.NextDouble() - 1;
        return values;
    }

    private static double[] PerChannel<T>(Tensor<T> tensor, int channels, string name) where T : unmanaged, IFloatingPointIeee754<T> =>
        tensor.Rank == 1 && tensor.Lengths[0] == channels
            ? Doubles(tensor)
            : throw new ArgumentException($"{name} has shape {TorchMessages.FormatShape(tensor.Lengths)}; it must have shape [{channels}].", name);

    private static double[] Doubles<T>(Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[tensor.FlattenedLength];
        tensor.FlattenTo(values);
        return values.Select(double.CreateTruncating).ToArray();
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
}
