using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>What <see cref="Functional.BatchNormUpdateStats{T}"/> returns, as <c>torch.batch_norm_update_stats</c> does.</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <param name="Mean">(C) the batch mean of each channel.</param>
/// <param name="Var">(C) the batch's <b>biased</b> variance of each channel (divided by n, not n - 1).</param>
public sealed record BatchNormStatistics<T>(Tensor<T> Mean, Tensor<T> Var);
