using System.Numerics;

namespace NormSharp;

/// <summary>
/// <see cref="BatchNorm2d{T}"/> with lazy initialization, PyTorch's <c>torch.nn.LazyBatchNorm2d</c>: num_features is
/// taken from the first forward's input (its size at dim 1), or from the shapes of the first state dict loaded.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/remarks/para"/>
/// </remarks>
public class LazyBatchNorm2d<T> : BatchNorm2d<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Builds the layer; the arguments and defaults are PyTorch's.</summary>
    /// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/param"/>
    public LazyBatchNorm2d(double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => InLazyForm ? "LazyBatchNorm2d" : base.ModuleName;
}

/// <summary>
/// <see cref="LazyBatchNorm2d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class LazyBatchNorm2d : LazyBatchNorm2d<float>
{
    /// <inheritdoc cref="LazyBatchNorm2d{T}(double, double?, bool, bool)"/>
    public LazyBatchNorm2d(double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }
}
