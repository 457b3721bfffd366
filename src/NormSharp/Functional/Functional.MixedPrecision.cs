using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace NormSharp;

// Mixed precision (PyTorch's mixed_type CPU path, pytorch#88929): a float16 or bfloat16 input with float32 running statistics,
// weight and bias. Each op is its float32 twin on the input's exact values, computed in float (statistics in double), the
// results rounded once to the input's type. The Half overloads take priority over the generic ones, which an all-null call
// would otherwise also match (Functional.BatchNorm(xHalf, null, null, null, null)).
public static partial class Functional
{
    /// <summary>
    /// Batch normalization of a float16 input with float32 running statistics, weight and bias (mixed precision):
    /// <see cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>'s checks, messages and
    /// running update, the output in float16.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *) in float16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null; updated in training.</param>
    /// <param name="runningVar">(C) float32 running variance, or null; updated in training.</param>
    /// <param name="weight">(C) float32 scale, or null for 1.</param>
    /// <param name="bias">(C) float32 shift, or null for 0.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <returns>A new float16 tensor of the input's shape and layout.</returns>
    /// <remarks>The statistics of the input's values (exact in float) in double, alpha and beta folded in float, <c>y = fma(x,
    /// alpha, beta)</c> in float, rounded to float16 (to nearest, ties to even): the float32 op's result, rounded once.
    /// PyTorch's kernel accumulates the statistics in float.
    /// <example>
    /// <code>
    /// Tensor&lt;Half&gt; y = Functional.BatchNorm(x, runningMean, runningVar, weight, bias, training: true);   // x: Tensor&lt;Half&gt;, the rest float
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's, and nothing changed.</exception>
    [OverloadResolutionPriority(1)]
    public static Tensor<Half> BatchNorm(Tensor<Half> input, Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? weight,
                                     Tensor<float>? bias, bool training = false, double momentum = 0.1, double eps = 1e-5) =>
        BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, null, null, null, allowInPlace: false).Output;

    /// <summary>
    /// <see cref="BatchNorm(Tensor{Half}, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, bool, double, double)"/> writing into
    /// <paramref name="destination"/>: no allocation in steady state.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *) in float16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="weight">(C) float32 scale, or null.</param>
    /// <param name="bias">(C) float32 shift, or null.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="destination">The input's lengths and layout; may be the input itself (in place), but must not otherwise
    /// overlap it.</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or a written tensor shares memory with
    /// another argument.</exception>
    [OverloadResolutionPriority(1)]
    public static void BatchNorm(Tensor<Half> input, Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? weight, Tensor<float>? bias,
                                 bool training, double momentum, double eps, Tensor<Half> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, null, null, destination, allowInPlace: true);
    }

    /// <summary>
    /// Instance normalization of a float16 input with float32 running statistics, weight and bias (mixed precision):
    /// <see cref="InstanceNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>'s rules, the
    /// output in float16.
    /// </summary>
    /// <param name="input">(N, C, *) in float16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="weight">(C) float32 scale, or null for 1.</param>
    /// <param name="bias">(C) float32 shift, or null for 0.</param>
    /// <param name="useInputStats">Plane statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <returns>A new row-major float16 tensor of the input's shape.</returns>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's, and nothing changed.</exception>
    [OverloadResolutionPriority(1)]
    public static Tensor<Half> InstanceNorm(Tensor<Half> input, Tensor<float>? runningMean = null, Tensor<float>? runningVar = null,
                                        Tensor<float>? weight = null, Tensor<float>? bias = null, bool useInputStats = true,
                                        double momentum = 0.1, double eps = 1e-5)
    {
        ArgumentNullException.ThrowIfNull(input);
        return InstanceNormCore(input, input.Lengths, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null, null, null, allowInPlace: false,
                                InstanceNormRunningUpdate(input.Lengths, useInputStats, runningMean is not null, runningVar is not null)).Output;
    }

    /// <summary>
    /// <see cref="InstanceNorm(Tensor{Half}, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, bool, double, double)"/> writing into
    /// <paramref name="destination"/>, a row-major tensor of the input's lengths.
    /// </summary>
    /// <param name="input">(N, C, *) in float16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="weight">(C) float32 scale, or null.</param>
    /// <param name="bias">(C) float32 shift, or null.</param>
    /// <param name="useInputStats">Plane statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="destination">Receives the output; may be the input itself (in place).</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or a written tensor shares memory with
    /// another argument.</exception>
    [OverloadResolutionPriority(1)]
    public static void InstanceNorm(Tensor<Half> input, Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? weight, Tensor<float>? bias,
                                    bool useInputStats, double momentum, double eps, Tensor<Half> destination)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(destination);
        InstanceNormCore(input, input.Lengths, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null, null, destination, allowInPlace: true,
                         InstanceNormRunningUpdate(input.Lengths, useInputStats, runningMean is not null, runningVar is not null));
    }

    /// <summary>
    /// <c>torch.native_batch_norm</c> of a float16 input with float32 parameters: the output in float16, the saved
    /// statistics (what <see cref="BatchNormBackward(Tensor{Half}, Tensor{Half}, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, bool, double, bool, bool, bool)"/>
    /// needs) in float32, as ATen's mixed-type path returns them.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *) in float16.</param>
    /// <param name="weight">(C) float32 scale, or null.</param>
    /// <param name="bias">(C) float32 shift, or null.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <returns>The output; in training the batch mean and invStd, shape (C); in evaluation both empty.</returns>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's.</exception>
    [OverloadResolutionPriority(1)]
    public static MixedBatchNormResult<Half> NativeBatchNorm(Tensor<Half> input, Tensor<float>? weight, Tensor<float>? bias, Tensor<float>? runningMean,
                                                          Tensor<float>? runningVar, bool training, double momentum, double eps)
    {
        (Tensor<Half> output, double[] mean, double[] invStd) = NativeBatchNormCore(input, weight, bias, runningMean, runningVar, training, momentum, eps);
        return new MixedBatchNormResult<Half>(output, ToTensor<float>(mean), ToTensor<float>(invStd));
    }

    /// <summary>
    /// <c>native_batch_norm_backward</c> of a float16 input with float32 parameters: dx in float16, the parameter gradients
    /// in float32, as libtorch's autograd gives them.
    /// </summary>
    /// <param name="gradOutput">dy in float16, the input's shape.</param>
    /// <param name="input">x, the forward's float16 input.</param>
    /// <param name="weight">(C) float32 γ, or null for 1.</param>
    /// <param name="runningMean">(C) used when <paramref name="training"/> is false.</param>
    /// <param name="runningVar">(C) used when <paramref name="training"/> is false.</param>
    /// <param name="saveMean">(C) the float32 batch mean the forward saved.</param>
    /// <param name="saveInvStd">(C) the float32 batch invStd the forward saved.</param>
    /// <param name="training">True when the forward normalized with batch statistics.</param>
    /// <param name="eps">The forward's eps.</param>
    /// <param name="inputGradient">Compute dx.</param>
    /// <param name="weightGradient">Compute Σ dy·x̂.</param>
    /// <param name="biasGradient">Compute Σ dy.</param>
    /// <returns>The requested gradients (null where not requested).</returns>
    /// <exception cref="ArgumentException">Shapes do not match, or the statistics the mode needs are missing.</exception>
    [OverloadResolutionPriority(1)]
    public static MixedBatchNormGradients<Half> BatchNormBackward(Tensor<Half> gradOutput, Tensor<Half> input, Tensor<float>? weight,
                                                               Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? saveMean,
                                                               Tensor<float>? saveInvStd, bool training, double eps, bool inputGradient = true,
                                                               bool weightGradient = true, bool biasGradient = true)
    {
        (Tensor<Half>? dx, double[]? gradWeight, double[]? gradBias) = BatchNormBackwardCore(
            gradOutput, input, weight, runningMean, runningVar, saveMean, saveInvStd, training, eps, inputGradient, weightGradient, biasGradient);
        return new MixedBatchNormGradients<Half>(dx, gradWeight is null ? null : ToTensor<float>(gradWeight), gradBias is null ? null : ToTensor<float>(gradBias));
    }

    /// <summary>
    /// Gradients of instance normalization of a float16 input with float32 parameters (<see cref="InstanceNormBackward{T}"/>'s
    /// rules): dx in float16, the parameter gradients in float32.
    /// </summary>
    /// <param name="gradOutput">dy in float16, the input's shape.</param>
    /// <param name="input">x, the forward's (N, C, *) float16 input.</param>
    /// <param name="weight">(C) float32 γ, or null for 1.</param>
    /// <param name="runningMean">(C) used when <paramref name="useInputStats"/> is false.</param>
    /// <param name="runningVar">(C) used when <paramref name="useInputStats"/> is false.</param>
    /// <param name="useInputStats">True when the forward normalized each plane with its own statistics.</param>
    /// <param name="eps">The forward's eps.</param>
    /// <param name="inputGradient">Compute dx.</param>
    /// <param name="weightGradient">Compute Σ dy·x̂ per channel.</param>
    /// <param name="biasGradient">Compute Σ dy per channel.</param>
    /// <returns>The requested gradients (null where not requested).</returns>
    /// <exception cref="ArgumentException">The forward's checks fail, or the shapes differ.</exception>
    [OverloadResolutionPriority(1)]
    public static MixedBatchNormGradients<Half> InstanceNormBackward(Tensor<Half> gradOutput, Tensor<Half> input, Tensor<float>? weight,
                                                                  Tensor<float>? runningMean, Tensor<float>? runningVar, bool useInputStats, double eps,
                                                                  bool inputGradient = true, bool weightGradient = true, bool biasGradient = true)
    {
        (Tensor<Half>? dx, double[]? weightSums, double[]? biasSums) = InstanceNormBackwardCore(
            gradOutput, input, weight, runningMean, runningVar, useInputStats, eps, inputGradient, weightGradient, biasGradient);
        return new MixedBatchNormGradients<Half>(dx, weightSums is null ? null : ToTensor<float>(weightSums), biasSums is null ? null : ToTensor<float>(biasSums));
    }

    /// <summary>
    /// <c>torch.batch_norm_update_stats</c> of a float16 input with float32 running statistics: the batch's mean and biased
    /// variance in float32, and the running statistics moved towards them
    /// (<see cref="BatchNormUpdateStats{T}"/>'s rules and messages).
    /// </summary>
    /// <param name="input">(N, C, *) in float16, with at least one element.</param>
    /// <param name="runningMean">(C) float32 running mean, or null; updated in place.</param>
    /// <param name="runningVar">(C) float32 running variance, or null; updated in place with the unbiased variance.</param>
    /// <param name="momentum">Factor of the update.</param>
    /// <returns>The batch mean and biased variance, shape (C), in float32.</returns>
    /// <exception cref="ArgumentException">A check fails; nothing changed.</exception>
    [OverloadResolutionPriority(1)]
    public static BatchNormStatistics<float> BatchNormUpdateStats(Tensor<Half> input, Tensor<float>? runningMean, Tensor<float>? runningVar, double momentum)
    {
        (double[] mean, double[] variance) = BatchNormUpdateStatsCore(input, runningMean, runningVar, momentum);
        return new BatchNormStatistics<float>(ToTensor<float>(mean), ToTensor<float>(variance));
    }

    /// <summary>
    /// Batch normalization of a bfloat16 input with float32 running statistics, weight and bias (mixed precision):
    /// <see cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>'s checks, messages and
    /// running update, the output in bfloat16.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *) in bfloat16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null; updated in training.</param>
    /// <param name="runningVar">(C) float32 running variance, or null; updated in training.</param>
    /// <param name="weight">(C) float32 scale, or null for 1.</param>
    /// <param name="bias">(C) float32 shift, or null for 0.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <returns>A new bfloat16 tensor of the input's shape and layout.</returns>
    /// <remarks>The statistics of the input's values (exact in float) in double, alpha and beta folded in float, <c>y = fma(x,
    /// alpha, beta)</c> in float, rounded to bfloat16 (to nearest, ties to even): the float32 op's result, rounded once.
    /// PyTorch's kernel accumulates the statistics in float.
    /// <example>
    /// <code>
    /// Tensor&lt;BFloat16&gt; y = Functional.BatchNorm(x, runningMean, runningVar, weight, bias, training: true);   // x: Tensor&lt;BFloat16&gt;, the rest float
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's, and nothing changed.</exception>
    public static Tensor<BFloat16> BatchNorm(Tensor<BFloat16> input, Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? weight,
                                     Tensor<float>? bias, bool training = false, double momentum = 0.1, double eps = 1e-5) =>
        BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, null, null, null, allowInPlace: false).Output;

    /// <summary>
    /// <see cref="BatchNorm(Tensor{BFloat16}, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, bool, double, double)"/> writing into
    /// <paramref name="destination"/>: no allocation in steady state.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *) in bfloat16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="weight">(C) float32 scale, or null.</param>
    /// <param name="bias">(C) float32 shift, or null.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="destination">The input's lengths and layout; may be the input itself (in place), but must not otherwise
    /// overlap it.</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or a written tensor shares memory with
    /// another argument.</exception>
    public static void BatchNorm(Tensor<BFloat16> input, Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? weight, Tensor<float>? bias,
                                 bool training, double momentum, double eps, Tensor<BFloat16> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        BatchNormCore(input, runningMean, runningVar, weight, bias, training, momentum, eps, null, null, destination, allowInPlace: true);
    }

    /// <summary>
    /// Instance normalization of a bfloat16 input with float32 running statistics, weight and bias (mixed precision):
    /// <see cref="InstanceNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>'s rules, the
    /// output in bfloat16.
    /// </summary>
    /// <param name="input">(N, C, *) in bfloat16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="weight">(C) float32 scale, or null for 1.</param>
    /// <param name="bias">(C) float32 shift, or null for 0.</param>
    /// <param name="useInputStats">Plane statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <returns>A new row-major bfloat16 tensor of the input's shape.</returns>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's, and nothing changed.</exception>
    public static Tensor<BFloat16> InstanceNorm(Tensor<BFloat16> input, Tensor<float>? runningMean = null, Tensor<float>? runningVar = null,
                                        Tensor<float>? weight = null, Tensor<float>? bias = null, bool useInputStats = true,
                                        double momentum = 0.1, double eps = 1e-5)
    {
        ArgumentNullException.ThrowIfNull(input);
        return InstanceNormCore(input, input.Lengths, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null, null, null, allowInPlace: false,
                                InstanceNormRunningUpdate(input.Lengths, useInputStats, runningMean is not null, runningVar is not null)).Output;
    }

    /// <summary>
    /// <see cref="InstanceNorm(Tensor{BFloat16}, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, bool, double, double)"/> writing into
    /// <paramref name="destination"/>, a row-major tensor of the input's lengths.
    /// </summary>
    /// <param name="input">(N, C, *) in bfloat16.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="weight">(C) float32 scale, or null.</param>
    /// <param name="bias">(C) float32 shift, or null.</param>
    /// <param name="useInputStats">Plane statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="destination">Receives the output; may be the input itself (in place).</param>
    /// <exception cref="ArgumentException">A check fails, the destination does not fit, or a written tensor shares memory with
    /// another argument.</exception>
    public static void InstanceNorm(Tensor<BFloat16> input, Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? weight, Tensor<float>? bias,
                                    bool useInputStats, double momentum, double eps, Tensor<BFloat16> destination)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(destination);
        InstanceNormCore(input, input.Lengths, runningMean, runningVar, weight, bias, useInputStats, momentum, eps, null, null, destination, allowInPlace: true,
                         InstanceNormRunningUpdate(input.Lengths, useInputStats, runningMean is not null, runningVar is not null));
    }

    /// <summary>
    /// <c>torch.native_batch_norm</c> of a bfloat16 input with float32 parameters: the output in bfloat16, the saved
    /// statistics (what <see cref="BatchNormBackward(Tensor{BFloat16}, Tensor{BFloat16}, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, Tensor{float}?, bool, double, bool, bool, bool)"/>
    /// needs) in float32, as ATen's mixed-type path returns them.
    /// </summary>
    /// <param name="input">(N, C) or (N, C, *) in bfloat16.</param>
    /// <param name="weight">(C) float32 scale, or null.</param>
    /// <param name="bias">(C) float32 shift, or null.</param>
    /// <param name="runningMean">(C) float32 running mean, or null.</param>
    /// <param name="runningVar">(C) float32 running variance, or null.</param>
    /// <param name="training">Batch statistics (true) or running statistics (false).</param>
    /// <param name="momentum">Factor of the running-statistics update.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <returns>The output; in training the batch mean and invStd, shape (C); in evaluation both empty.</returns>
    /// <exception cref="ArgumentException">A check fails; the message is PyTorch's.</exception>
    public static MixedBatchNormResult<BFloat16> NativeBatchNorm(Tensor<BFloat16> input, Tensor<float>? weight, Tensor<float>? bias, Tensor<float>? runningMean,
                                                          Tensor<float>? runningVar, bool training, double momentum, double eps)
    {
        (Tensor<BFloat16> output, double[] mean, double[] invStd) = NativeBatchNormCore(input, weight, bias, runningMean, runningVar, training, momentum, eps);
        return new MixedBatchNormResult<BFloat16>(output, ToTensor<float>(mean), ToTensor<float>(invStd));
    }

    /// <summary>
    /// <c>native_batch_norm_backward</c> of a bfloat16 input with float32 parameters: dx in bfloat16, the parameter gradients
    /// in float32, as libtorch's autograd gives them.
    /// </summary>
    /// <param name="gradOutput">dy in bfloat16, the input's shape.</param>
    /// <param name="input">x, the forward's bfloat16 input.</param>
    /// <param name="weight">(C) float32 γ, or null for 1.</param>
    /// <param name="runningMean">(C) used when <paramref name="training"/> is false.</param>
    /// <param name="runningVar">(C) used when <paramref name="training"/> is false.</param>
    /// <param name="saveMean">(C) the float32 batch mean the forward saved.</param>
    /// <param name="saveInvStd">(C) the float32 batch invStd the forward saved.</param>
    /// <param name="training">True when the forward normalized with batch statistics.</param>
    /// <param name="eps">The forward's eps.</param>
    /// <param name="inputGradient">Compute dx.</param>
    /// <param name="weightGradient">Compute Σ dy·x̂.</param>
    /// <param name="biasGradient">Compute Σ dy.</param>
    /// <returns>The requested gradients (null where not requested).</returns>
    /// <exception cref="ArgumentException">Shapes do not match, or the statistics the mode needs are missing.</exception>
    public static MixedBatchNormGradients<BFloat16> BatchNormBackward(Tensor<BFloat16> gradOutput, Tensor<BFloat16> input, Tensor<float>? weight,
                                                               Tensor<float>? runningMean, Tensor<float>? runningVar, Tensor<float>? saveMean,
                                                               Tensor<float>? saveInvStd, bool training, double eps, bool inputGradient = true,
                                                               bool weightGradient = true, bool biasGradient = true)
    {
        (Tensor<BFloat16>? dx, double[]? gradWeight, double[]? gradBias) = BatchNormBackwardCore(
            gradOutput, input, weight, runningMean, runningVar, saveMean, saveInvStd, training, eps, inputGradient, weightGradient, biasGradient);
        return new MixedBatchNormGradients<BFloat16>(dx, gradWeight is null ? null : ToTensor<float>(gradWeight), gradBias is null ? null : ToTensor<float>(gradBias));
    }

    /// <summary>
    /// Gradients of instance normalization of a bfloat16 input with float32 parameters (<see cref="InstanceNormBackward{T}"/>'s
    /// rules): dx in bfloat16, the parameter gradients in float32.
    /// </summary>
    /// <param name="gradOutput">dy in bfloat16, the input's shape.</param>
    /// <param name="input">x, the forward's (N, C, *) bfloat16 input.</param>
    /// <param name="weight">(C) float32 γ, or null for 1.</param>
    /// <param name="runningMean">(C) used when <paramref name="useInputStats"/> is false.</param>
    /// <param name="runningVar">(C) used when <paramref name="useInputStats"/> is false.</param>
    /// <param name="useInputStats">True when the forward normalized each plane with its own statistics.</param>
    /// <param name="eps">The forward's eps.</param>
    /// <param name="inputGradient">Compute dx.</param>
    /// <param name="weightGradient">Compute Σ dy·x̂ per channel.</param>
    /// <param name="biasGradient">Compute Σ dy per channel.</param>
    /// <returns>The requested gradients (null where not requested).</returns>
    /// <exception cref="ArgumentException">The forward's checks fail, or the shapes differ.</exception>
    public static MixedBatchNormGradients<BFloat16> InstanceNormBackward(Tensor<BFloat16> gradOutput, Tensor<BFloat16> input, Tensor<float>? weight,
                                                                  Tensor<float>? runningMean, Tensor<float>? runningVar, bool useInputStats, double eps,
                                                                  bool inputGradient = true, bool weightGradient = true, bool biasGradient = true)
    {
        (Tensor<BFloat16>? dx, double[]? weightSums, double[]? biasSums) = InstanceNormBackwardCore(
            gradOutput, input, weight, runningMean, runningVar, useInputStats, eps, inputGradient, weightGradient, biasGradient);
        return new MixedBatchNormGradients<BFloat16>(dx, weightSums is null ? null : ToTensor<float>(weightSums), biasSums is null ? null : ToTensor<float>(biasSums));
    }

    /// <summary>
    /// <c>torch.batch_norm_update_stats</c> of a bfloat16 input with float32 running statistics: the batch's mean and biased
    /// variance in float32, and the running statistics moved towards them
    /// (<see cref="BatchNormUpdateStats{T}"/>'s rules and messages).
    /// </summary>
    /// <param name="input">(N, C, *) in bfloat16, with at least one element.</param>
    /// <param name="runningMean">(C) float32 running mean, or null; updated in place.</param>
    /// <param name="runningVar">(C) float32 running variance, or null; updated in place with the unbiased variance.</param>
    /// <param name="momentum">Factor of the update.</param>
    /// <returns>The batch mean and biased variance, shape (C), in float32.</returns>
    /// <exception cref="ArgumentException">A check fails; nothing changed.</exception>
    public static BatchNormStatistics<float> BatchNormUpdateStats(Tensor<BFloat16> input, Tensor<float>? runningMean, Tensor<float>? runningVar, double momentum)
    {
        (double[] mean, double[] variance) = BatchNormUpdateStatsCore(input, runningMean, runningVar, momentum);
        return new BatchNormStatistics<float>(ToTensor<float>(mean), ToTensor<float>(variance));
    }
}
