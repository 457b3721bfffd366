using System.Numerics;

namespace NormSharp.Distributed;

/// <summary>
/// Batch normalization over a batch spread across processes, PyTorch's <c>torch.nn.SyncBatchNorm</c>, on the CPU:
/// in training, each channel is normalized with the mean and variance of every process's batch together, so that
/// each process's output, running statistics and input gradient are those one <see cref="BatchNorm{T}"/> computes
/// on the whole batch.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <para>Everything but the batch is <see cref="BatchNorm{T}"/>'s: flags, momentum or cumulative average, the counter,
/// evaluation mode, attribute changes on a live layer, the state dict, <c>Explain</c>, <c>Backward</c>. Inputs are
/// (N, C, *) of any rank from 2.</para>
/// <para>A forward synchronizes exactly when PyTorch's does: in training mode (where batch statistics always normalize)
/// with more than one process in the group. Each process then gathers every process's per-channel mean, sum of squared
/// deviations and count (2C + 1 values each), with a small header that every process checks (the channel count,
/// element type, flags, eps and momentum must agree, and every process must be running the same operation), and combines
/// them in rank order:</para>
/// <code>
/// for each process j with n_j &gt; 0:  f = 1 / (n + n_j)
///     m2   += m2_j + (mean - mean_j)² · n · n_j · f
///     mean  = n · f · mean + n_j · f · mean_j
///     n    += n_j
/// </code>
/// <para>The one-value-per-channel check applies to the whole batch's n. The backward sums Σ dy and Σ dy·(x - mean)
/// over the processes (2C values) before computing dx; <c>Weight.Grad</c> and <c>Bias.Grad</c> stay this process's own,
/// as in PyTorch, where the data-parallel wrapper sums them (<see cref="IProcessGroup.AllReduceSum"/>). In evaluation
/// mode, or with one process, nothing is exchanged and the layer is a <see cref="BatchNorm{T}"/>. A process whose share
/// of the batch is empty still takes part (count 0) and updates its running statistics like the others.</para>
/// <para>A float layer also takes float16 and bfloat16 input (<see cref="MixedPrecision"/>): the statistics exchanged are the
/// same doubles, and the header's element type is the input's, so every process must feed the same type.</para>
/// <para>Every process of the group calls <c>Forward</c> and <c>Backward</c> on its SyncBatchNorm layers in the same
/// order. When a process's forward fails its own checks, the others fail too, with a message naming that process;
/// processes that disagree get the same exception on every process; nothing changes on any of them.</para>
/// <example>
/// <code>
/// // mpirun -np 2 dotnet MyTraining.dll
/// var bn = new SyncBatchNorm&lt;float&gt;(64);          // the MPI world (a 1-process world without mpirun)
/// Tensor&lt;float&gt; y = bn.Forward(myShareOfTheBatch);  // normalized with the statistics of both shares
/// </code>
/// </example>
/// </remarks>
public class SyncBatchNorm<T> : BatchNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Ranks = [2, 3, 4, 5, 6, 7, 8];

    private readonly IProcessGroup? requestedGroup;
    private StatisticsExchange<T>? exchange;

    /// <summary>Builds the layer; the arguments and defaults are PyTorch's.</summary>
    /// <param name="numFeatures">C, the number of channels.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="momentum">Factor of the running-statistics update; null for the cumulative average.</param>
    /// <param name="affine">Whether the layer has a learnable weight and bias.</param>
    /// <param name="trackRunningStats">Whether the layer keeps running statistics.</param>
    /// <param name="processGroup">The processes whose batches form one batch; null for the MPI world
    /// (<see cref="MpiProcessGroup.World"/>, read at the first forward).</param>
    public SyncBatchNorm(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
                         IProcessGroup? processGroup = null)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
        requestedGroup = processGroup;
    }

    /// <summary>The processes whose batches form one batch (the MPI world unless another group was given).</summary>
    public IProcessGroup ProcessGroup => requestedGroup ?? MpiProcessGroup.World;

    /// <inheritdoc/>
    public override string ModuleName => "SyncBatchNorm";

    /// <inheritdoc/>
    protected override IReadOnlyList<int> AcceptedRanks => Ranks;

    /// <inheritdoc/>
    protected override IBatchStatisticsExchange StatisticsExchange => exchange ??= new StatisticsExchange<T>(this, ProcessGroup);

    /// <summary>This layer in <typeparamref name="TOther"/> (<c>ToDouble</c>/<c>ToFloat</c>): a SyncBatchNorm over the same
    /// process group (the float one is the <see cref="SyncBatchNorm"/> class).</summary>
    /// <typeparam name="TOther"><see cref="float"/> or <see cref="double"/>.</typeparam>
    protected override NormBase<TOther> CreateForConversion<TOther>()
    {
        bool affine = Weight is not null, track = RunningMean is not null;
        return typeof(TOther) == typeof(float)
            ? (NormBase<TOther>)(object)new SyncBatchNorm(NumFeatures, Eps, Momentum, affine, track, requestedGroup)
            : new SyncBatchNorm<TOther>(NumFeatures, Eps, Momentum, affine, track, requestedGroup);
    }

    /// <summary>PyTorch's <c>SyncBatchNorm._check_input_dim</c> and <c>_check_non_zero_input_channels</c>.</summary>
    /// <param name="shape">The input's lengths.</param>
    protected override string? CheckInputShape(ReadOnlySpan<nint> shape) =>
        shape.Length < 2 ? $"expected at least 2D input (got {shape.Length}D input)"
        : shape[1] == 0 ? "SyncBatchNorm number of input channels should be non-zero"
        : null;
}

/// <summary>
/// <see cref="SyncBatchNorm{T}"/> in float32, PyTorch's default dtype; also the home of <see cref="Convert"/>.
/// </summary>
public sealed class SyncBatchNorm : SyncBatchNorm<float>
{
    /// <inheritdoc cref="SyncBatchNorm{T}(int, double, double?, bool, bool, IProcessGroup?)"/>
    public SyncBatchNorm(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
                         IProcessGroup? processGroup = null)
        : base(numFeatures, eps, momentum, affine, trackRunningStats, processGroup)
    {
    }

    /// <summary>
    /// PyTorch's <c>SyncBatchNorm.convert_sync_batchnorm</c>: a collection with the same names in the same order, every
    /// BatchNorm layer (1d, 2d, 3d, of either element type) replaced by a <see cref="SyncBatchNorm{T}"/> with its
    /// parameters, buffers, counter, flags and mode; other layers are kept as they are.
    /// </summary>
    /// <param name="model">The layers to convert.</param>
    /// <param name="processGroup">The process group of the new layers; null for the MPI world.</param>
    /// <returns>A new collection; <paramref name="model"/> is not changed.</returns>
    /// <exception cref="InvalidOperationException">A lazy BatchNorm has not been initialized by a forward yet.</exception>
    public static NormModuleCollection Convert(NormModuleCollection model, IProcessGroup? processGroup = null) =>
        SyncBatchNormConversion.Convert(model, processGroup);
}
