using System.Numerics;

namespace NormSharp;

/// <summary>
/// Instance normalization over a (N, C, H, W) or (C, H, W) input, PyTorch's <c>torch.nn.InstanceNorm2d</c>: statistics per
/// sample and channel over the spatial values; a (C, H, W) input is a batch of one. See <see cref="InstanceNorm{T}"/>
/// for the rules.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public class InstanceNorm2d<T> : InstanceNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Ranks = [3, 4];

    /// <summary>Builds the layer; the arguments and defaults are PyTorch's (no affine, no tracking).</summary>
    /// <inheritdoc cref="NormBase{T}(int, double, double?, bool, bool)" path="/param"/>
    public InstanceNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = false, bool trackRunningStats = false)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>The lazy form (<see cref="LazyInstanceNorm2d{T}"/>).</summary>
    /// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/param"/>
    private protected InstanceNorm2d(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => "InstanceNorm2d";

    /// <inheritdoc/>
    protected override IReadOnlyList<int> AcceptedRanks => Ranks;
}

/// <summary>
/// <see cref="InstanceNorm2d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class InstanceNorm2d : InstanceNorm2d<float>
{
    /// <inheritdoc cref="InstanceNorm2d{T}(int, double, double?, bool, bool)"/>
    public InstanceNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = false, bool trackRunningStats = false)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }
}
