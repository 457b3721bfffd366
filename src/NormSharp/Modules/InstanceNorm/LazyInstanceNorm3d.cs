using System.Numerics;

namespace NormSharp;

/// <summary>
/// <see cref="InstanceNorm3d{T}"/> with lazy initialization, PyTorch's <c>torch.nn.LazyInstanceNorm3d</c>: num_features is
/// taken from the first forward's input (its size at dim 1), or from the shapes of the first state dict loaded.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/remarks/para"/>
/// <para>The defaults are affine = true and trackRunningStats = true, unlike <see cref="InstanceNorm3d{T}"/>: PyTorch's
/// <c>LazyInstanceNorm3d</c> inherits <c>_LazyNormBase</c>'s defaults (its docstring says false). Kept for fidelity.</para>
/// <para>As in PyTorch, C is read at dim 1 even for an unbatched input, so a (C, L...) first input makes C = its second
/// size (and the forward then fails on the channel check unless the sizes agree).</para>
/// </remarks>
public class LazyInstanceNorm3d<T> : InstanceNorm3d<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Builds the layer; the arguments and defaults are PyTorch's.</summary>
    /// <inheritdoc cref="NormBase{T}(double, double?, bool, bool)" path="/param"/>
    public LazyInstanceNorm3d(double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }

    /// <inheritdoc/>
    public override string ModuleName => InLazyForm ? "LazyInstanceNorm3d" : base.ModuleName;
}

/// <summary>
/// <see cref="LazyInstanceNorm3d{T}"/> in float32, PyTorch's default dtype.
/// </summary>
public sealed class LazyInstanceNorm3d : LazyInstanceNorm3d<float>
{
    /// <inheritdoc cref="LazyInstanceNorm3d{T}(double, double?, bool, bool)"/>
    public LazyInstanceNorm3d(double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true)
        : base(eps, momentum, affine, trackRunningStats)
    {
    }
}
