using System.Numerics;

namespace NormSharp;

/// <summary>
/// Instance normalization over a (N, C, L) or (C, L) input, PyTorch's <c>torch.nn.InstanceNorm1d</c>: statistics per
/// sample and channel over the spatial values; a (C, L) input is a batch of one. See <see cref="InstanceNorm{T}"/>
/// for the rules.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public class InstanceNorm1d<T> : InstanceNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Ranks = [2, 3];

    /// <summary>Builds the layer; the arguments and defaults are PyTorch's (no affine, no tracking).</summary>
    /// <param name="numFeatures">C, the number of channels.</param>
    /// <param name="eps">Added to the variance inside the square root (default 1e-5).</param>
    /// <param name="momentum">Running-statistics factor (default 0.1); null means 0 (the running statistics stay).</param>
    /// <param name="affine">Create the learnable weight (ones) and bias (zeros) (default false).</param>
    /// <param name="trackRunningStats">Create running_mean, running_var and num_batches_tracked (default false).</param>
    public InstanceNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = false, bool trackRunningStats = false)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>The lazy form (<see cref="LazyInstanceNorm1d{T}"/>).</summary>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <param name="momentum">Running-statistics factor; null means 0.</param>
    /// <param name="affine">Whether the first forward creates weight and bias.</param>
    /// <param name="trackRunningStats">Whether the first forward creates the running buffers.</param>
    private protected InstanceNorm1d(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => "InstanceNorm1d";

    /// <inheritdoc/>
    protected override IReadOnlyList<int> AcceptedRanks => Ranks;
}

/// <summary>
/// <see cref="InstanceNorm1d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class InstanceNorm1d : InstanceNorm1d<float>
{
    /// <inheritdoc cref="InstanceNorm1d{T}(int, double, double?, bool, bool)"/>
    public InstanceNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = false, bool trackRunningStats = false)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }
}
