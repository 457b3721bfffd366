using NormSharp.Serialization;

namespace NormSharp.PyTorch;

/// <summary>What a torch.save checkpoint holds, as NormSharp reads it.</summary>
/// <param name="Tensors">The float32, float64, float16, bfloat16 and int64 tensors under their state-dict keys, in the
/// file's order, copied to row-major order (float16 and bfloat16 held as float, exactly). Its
/// <see cref="StateDict.ModuleVersions"/> are PyTorch's <c>_metadata</c> versions (null for a plain dict), and its
/// <see cref="StateDict.Version"/> is the root module's.</param>
/// <param name="Skipped">Tensors of other dtypes (int32, uint8, bool, complex, quantized): validated, not loaded. Their
/// <see cref="SkippedTensor.DType"/> is PyTorch's name, e.g. <c>int32</c>.</param>
public sealed record PyTorchCheckpointFile(StateDict Tensors, IReadOnlyList<SkippedTensor> Skipped);
