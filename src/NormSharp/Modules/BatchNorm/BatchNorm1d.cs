using System.Numerics;

namespace NormSharp;

/// <summary>
/// Batch normalization over a (N, C) or (N, C, L) input, PyTorch's <c>torch.nn.BatchNorm1d</c>;
/// statistics per channel over every dimension but C. See <see cref="BatchNorm{T}"/> for the rules.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public class BatchNorm1d<T> : BatchNorm<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly int[] Ranks = [2, 3];

    /// <summary>Builds the layer; the arguments and defaults are PyTorch's.</summary>
    /// <inheritdoc cref="NormBase{T}(int, double, double?, bool, bool)" path="/param"/>
    public BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }

    /// <summary>The lazy form (<see cref="LazyBatchNorm1d{T}"/>).</summary>
    /// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/param"/>
    private protected BatchNorm1d(double eps, double? momentum, bool affine, bool trackRunningStats)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => "BatchNorm1d";

    /// <inheritdoc/>
    protected override IReadOnlyList<int> AcceptedRanks => Ranks;
}

/// <summary>
/// <see cref="BatchNorm1d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class BatchNorm1d : BatchNorm1d<float>
{
    /// <inheritdoc cref="BatchNorm1d{T}(int, double, double?, bool, bool)"/>
    public BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(numFeatures, eps, momentum, affine, trackRunningStats)
    {
    }
}
