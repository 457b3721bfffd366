using System.Numerics;
using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>What <see cref="Folding.Unfold{T}"/> returns: the preceding layer's weight and bias, and a BatchNorm after
/// it that makes the pair compute what the folded layer computes.</summary>
/// <typeparam name="T">The element type.</typeparam>
/// <param name="Weight">The preceding layer's weight: a copy of the folded one.</param>
/// <param name="Bias">Null: the folded bias moves into the BatchNorm's shift (a bias before a BatchNorm is cancelled by
/// the batch mean in training, so it belongs there).</param>
/// <param name="Norm">The BatchNorm (1d for a linear layer or a 1-d convolution, 2d, 3d), in evaluation mode.</param>
public sealed record UnfoldResult<T>(Tensor<T> Weight, Tensor<T>? Bias, BatchNorm<T> Norm)
    where T : unmanaged, IFloatingPointIeee754<T>;
