using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>What <see cref="Folding.FoldInto{T, TNorm}"/> returns: the preceding layer's new weight and bias, and its
/// check.</summary>
/// <typeparam name="T">The weight's element type.</typeparam>
/// <param name="Weight">The folded weight, the original's shape, row-major.</param>
/// <param name="Bias">The folded bias, shape (C): always present, since the normalization's shift becomes one.</param>
/// <param name="Check">The fold checked on a probe input, or null when not asked for.</param>
public sealed record FoldResult<T>(Tensor<T> Weight, Tensor<T> Bias, FoldCheck? Check);
