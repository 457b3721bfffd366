using System.Runtime.CompilerServices;
using NormSharp.PyTorch.Tensors;

namespace NormSharp.PyTorch.Pickle;

// The objects a weights-only load builds: plain data (None as null, bool, long, double, string, PyTuple, PyList, PyDict),
// the allowed globals (PyGlobal), and descriptions of storages and tensors whose bytes are read afterwards. Nothing here
// runs code or reads the archive.

/// <summary>A Python tuple.</summary>
internal sealed class PyTuple(object?[] items)
{
    public static readonly PyTuple Empty = new([]);

    public object?[] Items { get; } = items;
}

/// <summary>A Python list.</summary>
internal sealed class PyList
{
    public List<object?> Items { get; } = [];
}

/// <summary>
/// A Python dict or OrderedDict, keyed by strings or integers, in insertion order (a key set again keeps its place, as
/// in Python). Strings are compared by reference: the unpickler makes one instance of each distinct string, so no key
/// is hashed or compared character by character twice, however often a pickle repeats it.
/// </summary>
internal sealed class PyDict(bool ordered)
{
    private readonly List<object> keys = [];
    private readonly Dictionary<object, object?> values = new(KeyComparer.Instance);

    /// <summary>Whether this is a <c>collections.OrderedDict</c> (the type of a state dict, the only one BUILD may touch).</summary>
    public bool Ordered { get; } = ordered;

    /// <summary>Attributes set by BUILD (a state dict's <c>_metadata</c>), or null.</summary>
    public PyDict? Attributes { get; set; }

    public int Count => keys.Count;

    public IEnumerable<KeyValuePair<object, object?>> Entries => keys.Select(k => new KeyValuePair<object, object?>(k, values[k]));

    public void Set(object key, object? value)
    {
        if (!values.ContainsKey(key)) keys.Add(key);
        values[key] = value;
    }

    /// <summary>The value under <paramref name="key"/>: a long, or the unpickler's one instance of a string (see
    /// <see cref="Unpickled.TryGet"/> for a lookup by content).</summary>
    public bool TryGet(object key, out object? value) => values.TryGetValue(key, out value);

    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();

        public new bool Equals(object? x, object? y) => x is long a ? y is long b && a == b : ReferenceEquals(x, y);

        public int GetHashCode(object obj) => obj is long a ? a.GetHashCode() : RuntimeHelpers.GetHashCode(obj);
    }
}

/// <summary>What a pickle holds: its root object, and the one instance of each string it made (dict keys compare by
/// reference, so a lookup by content goes through these).</summary>
internal sealed class Unpickled(object? root, IReadOnlyDictionary<string, string> strings)
{
    public object? Root { get; } = root;

    /// <summary>The value under the string <paramref name="key"/> in <paramref name="dict"/>, in constant time: a string the
    /// pickle never made is a key of none of its dicts.</summary>
    public bool TryGet(PyDict dict, string key, out object? value)
    {
        value = null;
        return strings.TryGetValue(key, out string? canonical) && dict.TryGet(canonical, out value);
    }
}

/// <summary>What an allowed global is to the unpickler.</summary>
internal enum GlobalKind
{
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    ParameterClass,
    Size,
    Device,
    StorageClass,
    UntypedStorage,
    TypedStorage,
    DType,
}

/// <summary>An allowed global (<c>collections.OrderedDict</c>, <c>torch.FloatStorage</c>, ...): a name and what it does.</summary>
/// <param name="FullName">Module and name, <c>torch._utils._rebuild_tensor_v2</c>.</param>
/// <param name="Kind">What REDUCE, NEWOBJ or a persistent id does with it.</param>
/// <param name="DType">The element type of a storage class or a dtype object.</param>
internal sealed record PyGlobal(string FullName, GlobalKind Kind, TorchDType? DType = null);

/// <summary><c>torch.device</c>, kept as data.</summary>
internal sealed record TorchDevice(string Type, long? Index);

/// <summary>A storage named by a persistent id: the archive entry <c>data/KEY</c> holds its bytes.</summary>
/// <param name="Key">The entry's name under <c>data/</c>.</param>
/// <param name="DType">The element type of a typed storage; uint8 (bytes) for an untyped one.</param>
/// <param name="ByteLength">The bytes the entry must hold.</param>
/// <param name="Untyped">Whether the storage is untyped (<c>torch.storage.UntypedStorage</c>).</param>
internal sealed record StorageRef(string Key, TorchDType DType, long ByteLength, bool Untyped);

/// <summary>A tensor as <c>_rebuild_tensor_v2</c> describes it: a view of a storage (checked to lie inside it).</summary>
/// <param name="Storage">The storage it views.</param>
/// <param name="DType">Its element type.</param>
/// <param name="Offset">Its first element's index in the storage, in elements of <paramref name="DType"/>.</param>
/// <param name="Shape">Its sizes (empty for a 0-dim tensor).</param>
/// <param name="Strides">Its strides, in elements.</param>
/// <param name="ElementCount">The product of the sizes.</param>
internal sealed record TensorRef(StorageRef Storage, TorchDType DType, long Offset, long[] Shape, long[] Strides, long ElementCount)
{
    /// <summary>Whether the elements lie in row-major order from <see cref="Offset"/> on (sizes of 1 and empty tensors
    /// impose no stride).</summary>
    public bool IsRowMajor
    {
        get
        {
            if (ElementCount <= 1) return true;
            long expected = 1;
            for (int d = Shape.Length - 1; d >= 0; d--)
            {
                if (Shape[d] != 1 && Strides[d] != expected) return false;
                expected *= Shape[d];
            }

            return true;
        }
    }
}
