using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>What <see cref="Functional.NativeBatchNorm{T}"/> returns, as <c>torch.native_batch_norm</c> does.</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <param name="Output">The normalized input.</param>
/// <param name="SaveMean">(C) the batch mean in training; empty in evaluation.</param>
/// <param name="SaveInvStd">(C) the batch 1 / sqrt(var_b + eps) in training; empty in evaluation.</param>
public sealed record BatchNormResult<T>(Tensor<T> Output, Tensor<T> SaveMean, Tensor<T> SaveInvStd);
