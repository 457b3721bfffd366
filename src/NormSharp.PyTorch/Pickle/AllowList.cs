using NormSharp.PyTorch.Tensors;

namespace NormSharp.PyTorch.Pickle;

/// <summary>
/// The globals a pickle may name, PyTorch's <c>weights_only=True</c> rule: a pickle names a function or class by module
/// and name, and unpickling calls it, so a name outside this list (<c>os.system</c>, <c>builtins.eval</c>,
/// <c>subprocess.Popen</c>) is refused before anything is built. Every name here is on PyTorch's own allow-list
/// (<c>torch/_weights_only_unpickler.py</c>), and none of them is called: each only shapes data.
/// </summary>
internal static class AllowList
{
    /// <summary>The allowed globals by full name.</summary>
    public static IReadOnlyDictionary<string, PyGlobal> Globals { get; } = Build();

    /// <summary>Globals PyTorch's weights-only unpickler allows that name something a state dict of dense tensors never
    /// holds, with what they are: refused with a message that says so.</summary>
    public static IReadOnlyDictionary<string, string> NotRead { get; } = BuildNotRead();

    /// <summary>The classes of a lazy module's state dict before its first forward (<c>UninitializedParameter</c>,
    /// <c>UninitializedBuffer</c>): not on PyTorch's allow-list either (its weights-only load refuses them), refused with a
    /// message that says what they are.</summary>
    public static IReadOnlySet<string> Uninitialized { get; } =
        new HashSet<string>(["torch.nn.parameter.UninitializedParameter", "torch.nn.parameter.UninitializedBuffer"], StringComparer.Ordinal);

    private static Dictionary<string, PyGlobal> Build()
    {
        var globals = new List<PyGlobal>
        {
            new("collections.OrderedDict", GlobalKind.OrderedDict),
            new("torch._utils._rebuild_tensor", GlobalKind.RebuildTensor),
            new("torch._utils._rebuild_tensor_v2", GlobalKind.RebuildTensorV2),
            new("torch._utils._rebuild_tensor_v3", GlobalKind.RebuildTensorV3),
            new("torch._utils._rebuild_parameter", GlobalKind.RebuildParameter),
            new("torch._utils._rebuild_parameter_with_state", GlobalKind.RebuildParameterWithState),
            new("torch.nn.parameter.Parameter", GlobalKind.ParameterClass),
            new("torch.Size", GlobalKind.Size),
            new("torch.device", GlobalKind.Device),
            new("torch.storage.UntypedStorage", GlobalKind.UntypedStorage, TorchDType.UInt8),
            new("torch.storage.TypedStorage", GlobalKind.TypedStorage),
        };
        foreach (var (name, dtype) in TorchDType.ByStorageClass)
        {
            globals.Add(new($"torch.{name}", GlobalKind.StorageClass, dtype));
            // PyTorch before 1.13 named the storage of a CUDA tensor by its CUDA class; NormSharp reads it on the CPU.
            if (!name.StartsWith('Q')) globals.Add(new($"torch.cuda.{name}", GlobalKind.StorageClass, dtype));
        }

        foreach (var (name, dtype) in TorchDType.ByName) globals.Add(new($"torch.{name}", GlobalKind.DType, dtype));
        return globals.ToDictionary(g => g.FullName, StringComparer.Ordinal);
    }

    private static Dictionary<string, string> BuildNotRead()
    {
        var notRead = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["torch._utils._rebuild_sparse_tensor"] = "a sparse tensor",
            ["torch._utils._rebuild_sparse_csr_tensor"] = "a sparse tensor",
            ["torch._utils._rebuild_meta_tensor_no_storage"] = "a meta tensor (a shape without values)",
            ["torch._utils._rebuild_qtensor"] = "a quantized tensor",
            ["torch._utils._rebuild_nested_tensor"] = "a nested tensor",
            ["torch._utils._rebuild_wrapper_subclass"] = "a tensor subclass",
            ["torch._tensor._rebuild_from_type_v2"] = "a tensor subclass or a tensor with Python attributes",
            ["torch.serialization._get_layout"] = "a tensor layout (of a sparse tensor)",
            ["torch.Tensor"] = "a tensor built by its class (the legacy format)",
        };
        string[] tensorClasses = ["Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"];
        foreach (string prefix in new[] { "torch.", "torch.cuda.", "torch.sparse.", "torch.cuda.sparse." })
            foreach (string type in tensorClasses)
                notRead[$"{prefix}{type}Tensor"] = "a tensor type object (the legacy format)";
        return notRead;
    }
}
