using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>What the mixed-precision <c>Functional.NativeBatchNorm</c> returns, as <c>torch.native_batch_norm</c> does for a
/// float16 or bfloat16 input with float32 parameters: the output in the input's type, the saved statistics in float32.</summary>
/// <typeparam name="TInput"><see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <param name="Output">The normalized input.</param>
/// <param name="SaveMean">(C) the batch mean in training; empty in evaluation.</param>
/// <param name="SaveInvStd">(C) the batch 1 / sqrt(var_b + eps) in training; empty in evaluation.</param>
public sealed record MixedBatchNormResult<TInput>(Tensor<TInput> Output, Tensor<float> SaveMean, Tensor<float> SaveInvStd);

/// <summary>The gradients the mixed-precision <c>Functional.BatchNormBackward</c> and <c>Functional.InstanceNormBackward</c>
/// compute (null where not requested): dx in the input's type, the parameter gradients in float32, as libtorch's autograd
/// gives them for a float16 or bfloat16 input with float32 parameters.</summary>
/// <typeparam name="TInput"><see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <param name="Input">dL/dx, the input's shape.</param>
/// <param name="Weight">dL/dγ = Σ dy·x̂, shape (C).</param>
/// <param name="Bias">dL/dβ = Σ dy, shape (C).</param>
public sealed record MixedBatchNormGradients<TInput>(Tensor<TInput>? Input, Tensor<float>? Weight, Tensor<float>? Bias);
