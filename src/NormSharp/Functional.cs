using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Errors;

namespace NormSharp;

/// <summary>
/// PyTorch's functional normalization ops (<c>torch.nn.functional</c>): argument checks, then kernels.
/// No state: running statistics are updated in the tensors the caller passes.
/// </summary>
public static class Functional
{
    /// <summary>
    /// Batch normalization, the twin of <c>torch.nn.functional.batch_norm</c>.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="input">(N, C) or (N, C, *): N samples, C channels, any spatial sizes.</param>
    /// <param name="runningMean">(C) running mean, or null. Updated in place when <paramref name="training"/> is true.</param>
    /// <param name="runningVar">(C) running variance, or null. Updated in place when <paramref name="training"/> is true.</param>
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
    /// (see <c>Kernels/BatchNormTransform.cs</c>); statistics as in <c>Kernels/BatchNormStatistics.cs</c>
    /// (double accumulation, two passes); running update as in <c>Kernels/RunningStatistics.cs</c>.
    /// An empty input returns an empty output and skips every check but the one-value one, as ATen does.
    /// A call that throws changes nothing.
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
        ArgumentNullException.ThrowIfNull(input);
        Precision.EnsureSupported<T>();
        string? error = ValidateBatchNorm(input.Lengths, runningMean?.FlattenedLength, runningVar?.FlattenedLength,
                                          weight?.FlattenedLength, bias?.FlattenedLength, training, eps);
        if (error is not null) throw new ArgumentException(error);
        EnsureRowMajor(runningMean, "running_mean");
        EnsureRowMajor(runningVar, "running_var");
        EnsureRowMajor(weight, "weight");
        EnsureRowMajor(bias, "bias");

        Tensor<T> x = TensorStorage.RowMajor(input);
        Tensor<T> output = Tensor.CreateFromShapeUninitialized<T>(x.Lengths);
        if (x.FlattenedLength == 0) return output;

        BatchNormExecution.Run(x, output, runningMean, runningVar, weight, bias, training, momentum, eps);
        return output;
    }

    /// <summary>
    /// Every check of <see cref="BatchNorm{T}"/>, in PyTorch's order, without running it: the first
    /// failing check's message, or null. Modules use it to plan a forward before changing anything.
    /// </summary>
    internal static string? ValidateBatchNorm(ReadOnlySpan<nint> shape, long? runningMeanLength, long? runningVarLength,
                                              long? weightLength, long? biasLength, bool training, double eps)
    {
        if (shape.Length < 2) return TorchMessages.FunctionalRank(shape.Length);

        // Python's F.batch_norm: _verify_batch_size, then the eps check (PyTorch 2.10+).
        if (training && ValuesPerChannel(shape) == 1) return TorchMessages.MoreThanOneValuePerChannel(shape);
        if (training && !(eps > 0)) return TorchMessages.EpsMustBePositive(eps);
        if (!training && !(eps >= 0)) return TorchMessages.EpsMustBeNonNegative(eps);

        // ATen: an empty input skips the remaining checks.
        if (ElementCount(shape) == 0) return null;

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

    private static void EnsureRowMajor<T>(Tensor<T>? tensor, string name)
    {
        if (tensor is not null && !TensorStorage.IsRowMajor(tensor))
            throw new ArgumentException($"{name} must be a contiguous (row-major) tensor.");
    }
}
