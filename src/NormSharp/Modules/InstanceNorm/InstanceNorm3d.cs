using System.Numerics;

namespace NormSharp;

/// <summary>
/// Instance normalization over a (N, C, D, H, W) or (C, D, H, W) input, PyTorch's <c>torch.nn.InstanceNorm3d</c>: statistics per
/// sample and channel over the spatial values; a (C, D, H, W) input is a batch of one. See <see cref="InstanceNorm{T}"/>
/// for the rules.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public class InstanceNorm3d<T> : InstanceNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Ranks = [4, 5];

    /// <summary>Builds the layer; the arguments and defaults are PyTorch's (no affine, no tracking).</summary>
    /// <inheritdoc cref="NormBase{T}(int, double, double?, bool, bool)" path="/param"/>
    public InstanceNorm3d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = false, bool trackRunningStats = false)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>The lazy form (<see cref="LazyInstanceNorm3d{T}"/>).</summary>
    /// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/param"/>
    private protected InstanceNorm3d(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => "InstanceNorm3d";

    /// <inheritdoc/>
    protected override IReadOnlyList<int> AcceptedRanks => Ranks;
}

/// <summary>
/// <see cref="InstanceNorm3d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class InstanceNorm3d : InstanceNorm3d<float>
{
    /// <inheritdoc cref="InstanceNorm3d{T}(int, double, double?, bool, bool)"/>
    public InstanceNorm3d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = false, bool trackRunningStats = false)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }
}
