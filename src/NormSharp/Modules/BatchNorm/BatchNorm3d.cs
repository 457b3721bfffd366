using System.Numerics;

namespace NormSharp;

/// <summary>
/// Batch normalization over a (N, C, D, H, W) input, PyTorch's <c>torch.nn.BatchNorm3d</c>;
/// statistics per channel over every dimension but C. See <see cref="BatchNorm{T}"/> for the rules.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public class BatchNorm3d<T> : BatchNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Ranks = [5];

    /// <summary>Builds the layer; the arguments and defaults are PyTorch's.</summary>
    /// <inheritdoc cref="NormBase{T}(int, double, double?, bool, bool)" path="/param"/>
    public BatchNorm3d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>The lazy form (<see cref="LazyBatchNorm3d{T}"/>).</summary>
    /// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/param"/>
    private protected BatchNorm3d(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => "BatchNorm3d";

    /// <inheritdoc/>
    protected override IReadOnlyList<int> AcceptedRanks => Ranks;
}

/// <summary>
/// <see cref="BatchNorm3d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class BatchNorm3d : BatchNorm3d<float>
{
    /// <inheritdoc cref="BatchNorm3d{T}(int, double, double?, bool, bool)"/>
    public BatchNorm3d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }
}
