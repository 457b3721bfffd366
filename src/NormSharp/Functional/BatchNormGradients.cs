using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>The gradients <see cref="Functional.BatchNormBackward{T}"/> computes (null where not requested).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <param name="Input">dL/dx, the input's shape.</param>
/// <param name="Weight">dL/dγ = Σ dy·x̂, shape (C).</param>
/// <param name="Bias">dL/dβ = Σ dy, shape (C).</param>
public sealed record BatchNormGradients<T>(Tensor<T>? Input, Tensor<T>? Weight, Tensor<T>? Bias);
