namespace NormSharp.Serialization;

/// <summary>What a safetensors file holds, as NormSharp reads it.</summary>
/// <param name="Tensors">The F32, F64, F16, BF16 and I64 tensors, under their names, in the header's order (F16 and BF16
/// values held as float, exactly; a module converts them to its own type on load).</param>
/// <param name="Metadata">The header's <c>__metadata__</c> (empty when absent).</param>
/// <param name="Skipped">Tensors of the other dtypes the format defines (integers, booleans, fp8): validated, not loaded.</param>
public sealed record SafeTensorsFile(StateDict Tensors, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<SkippedTensor> Skipped);

/// <summary>A tensor a safetensors file holds in a dtype NormSharp does not load.</summary>
/// <param name="Name">Its name.</param>
/// <param name="DType">Its safetensors dtype, e.g. <c>I32</c>.</param>
/// <param name="Shape">Its shape.</param>
public sealed record SkippedTensor(string Name, string DType, IReadOnlyList<long> Shape);
