using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

public static partial class Functional
{
    /// <summary>
    /// The twin of <c>torch.batch_norm_update_stats</c>: the batch's per-channel mean and biased variance, and the running
    /// statistics moved towards them, without normalizing anything (SyncBatchNorm's building block in PyTorch).
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="input">(N, C, *) with at least one element: statistics per channel over its n = N·S values.</param>
    /// <param name="runningMean">(C) running mean, or null; any strides. Updated in place:
    /// <c>(1 - momentum) · running_mean + momentum · mean</c>.</param>
    /// <param name="runningVar">(C) running variance, or null; any strides. Updated in place with the <b>unbiased</b>
    /// variance: <c>(1 - momentum) · running_var + momentum · var_b · n / (n - 1)</c> (NaN when n = 1, as in PyTorch).</param>
    /// <param name="momentum">Factor of the update (not checked, as in PyTorch).</param>
    /// <returns>The batch mean and the batch's biased variance, shape (C): ATen's <c>(save_mean, save_var)</c> with the
    /// <c>Var</c> transform, where <see cref="NativeBatchNorm{T}"/> returns invStd instead.</returns>
    /// <remarks>
    /// The statistics are the ones <see cref="BatchNorm{T}(Tensor{T}, Tensor{T}?, Tensor{T}?, Tensor{T}?, Tensor{T}?, bool, double, double)"/>
    /// normalizes with in training (accumulated in double, in an order set by the shape alone), and the running statistics
    /// move exactly as that call moves them. PyTorch does not check the running statistics' lengths (a short one is written
    /// past its end); NormSharp refuses them with ATen's usual message. A call that throws changes nothing.
    /// <example>
    /// <code>
    /// var x = Tensor.Create(new float[] { 1, 2, 3, 5, 8, 13 }, [3, 2]);
    /// var runningMean = Tensor.Create(new float[] { 0, 0 }, [2]);
    /// var runningVar = Tensor.Create(new float[] { 1, 1 }, [2]);
    /// var (mean, variance) = Functional.BatchNormUpdateStats(x, runningMean, runningVar, momentum: 0.1);
    /// // mean = [4, 6.6667], variance = [8.6667, 21.5556]; runningMean = [0.4, 0.6667], runningVar = [2.2, 4.1333]
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="ArgumentException">The input has fewer than 2 dimensions
    /// (<c>Dimension out of range (expected to be in range of [-1, 0], but got 1)</c>) or no element
    /// (<c>input tensor must have at least one element, but got input_sizes = [0, 3]</c>); a running statistic's length is not
    /// C, shares memory with another argument or repeats an element.</exception>
    public static BatchNormStatistics<T> BatchNormUpdateStats<T>(Tensor<T> input, Tensor<T>? runningMean, Tensor<T>? runningVar, double momentum)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        (double[] mean, double[] variance) = BatchNormUpdateStatsCore(input, runningMean, runningVar, momentum);
        return new BatchNormStatistics<T>(ToTensor<T>(mean), ToTensor<T>(variance));
    }

    /// <summary><see cref="BatchNormUpdateStats{T}"/> for any supported input type: the mean and biased variance in double.</summary>
    private static (double[] Mean, double[] Variance) BatchNormUpdateStatsCore<TInput, T>(Tensor<TInput> input, Tensor<T>? runningMean,
                                                                                         Tensor<T>? runningVar, double momentum)
        where TInput : unmanaged
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        Precision.EnsureSupported<TInput, T>();
        // ATen's order: input.size(1), the element count, then (NormSharp's addition) the lengths of the running statistics.
        if (input.Rank < 2) throw new ArgumentException(TorchMessages.DimensionOutOfRange(1, input.Rank));
        if (input.FlattenedLength == 0) throw new ArgumentException(TorchMessages.InputMustHaveElements(input.Lengths));
        nint channels = input.Lengths[1];
        if (runningMean is not null && runningMean.FlattenedLength != channels)
            throw new ArgumentException(TorchMessages.ShouldContainElements("running_mean", channels, (nint)runningMean.FlattenedLength));
        if (runningVar is not null && runningVar.FlattenedLength != channels)
            throw new ArgumentException(TorchMessages.ShouldContainElements("running_var", channels, (nint)runningVar.FlattenedLength));
        if (typeof(TInput) == typeof(T))
            EnsureNoSharedMemory<T>([new(As<T>(input), "input", false), new(runningMean, "running_mean", true), new(runningVar, "running_var", true)]);
        else EnsureNoSharedMemory<T>([new(runningMean, "running_mean", true), new(runningVar, "running_var", true)]);
        EnsureDistinctElements(runningMean, "running_mean");
        EnsureDistinctElements(runningVar, "running_var");

        (Tensor<TInput> x, NormLayout layout) = Readable(input);
        Tensor<T>? rm = Dense(runningMean), rv = Dense(runningVar);
        var mean = new double[channels];
        var variance = new double[channels];
        // The training forward's statistics pass and update; its normalized output is not wanted (eps only shapes it).
        RunForward(layout, x, layout.AllocateLike(x), rm, rv, null, null, training: true, momentum, eps: 0, mean, null, savedBiasedVar: variance,
                   statisticsInInputType: WithoutFloatTensors<TInput, T>(runningMean, runningVar, null, null));
        WriteBack(rm, runningMean);
        WriteBack(rv, runningVar);
        return (mean, variance);
    }
}
