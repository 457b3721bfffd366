using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NormSharp.PyTorch.Archive;
using NormSharp.PyTorch.Pickle;
using NormSharp.Serialization;

namespace NormSharp.PyTorch.Tensors;

/// <summary>
/// Turns the tensor descriptions of an unpickled state dict into a <see cref="StateDict"/>: each storage is read once
/// from its archive entry (CRC checked), each tensor copied out of it in row-major order (views at an offset, transposed
/// or broadcast strides, 0-dim tensors), and PyTorch's <c>_metadata</c> versions attached.
/// </summary>
/// <remarks>
/// Before any data is read, every storage entry is checked to exist with exactly the bytes its persistent id claims, and
/// the bytes the tensors will take are added up: more than <see cref="PyTorchCheckpoint.MaxViewExpansion"/> times the
/// storages they view plus <see cref="PyTorchCheckpoint.ExpansionAllowance"/> is refused (a few bytes viewed a million
/// times, or broadcast with stride 0, would otherwise allocate without bound). Memory while reading is the tensors
/// themselves plus one pooled buffer the size of the largest storage.
/// </remarks>
internal static class TensorMaterializer
{
    private delegate StateTensor Factory<T>(ReadOnlySpan<T> values, long[] shape);

    /// <summary>The state dict held by <paramref name="dict"/>, whose storages lie under <c>ARCHIVE/data/</c>.</summary>
    public static PyTorchCheckpointFile Build(ZipDirectory zip, string archive, Unpickled pickle, PyDict dict, bool bigEndian)
    {
        var tensors = new List<(string Key, TensorRef Tensor)>();
        var skipped = new List<SkippedTensor>();
        foreach (var (key, value) in dict.Entries)
        {
            if (key is not string name) throw Fail($"the state dict has an integer key ({key}); its keys must be tensor names");
            if (value is not TensorRef tensor)
                throw Fail($"entry {Quoting.Quote(name)} of the state dict is {RestrictedUnpickler.Describe(value)}, not a tensor");
            if (tensor.DType.Loaded is null) skipped.Add(new SkippedTensor(name, tensor.DType.Name, tensor.Shape));
            else tensors.Add((name, tensor));
            Entry(zip, archive, tensor.Storage);
        }

        CheckBudget(tensors.Select(t => t.Tensor).ToList());
        var values = new Dictionary<string, StateTensor>(StringComparer.Ordinal);
        foreach (var group in tensors.GroupBy(t => t.Tensor.Storage.Key, StringComparer.Ordinal))
        {
            StorageRef storage = group.First().Tensor.Storage;
            if (bigEndian && group.Select(t => t.Tensor.DType.Size).Distinct().Count() > 1)
                throw Fail($"storage \"{storage.Key}\" is big-endian and viewed with elements of different sizes");
            int length = (int)storage.ByteLength;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                Span<byte> bytes = buffer.AsSpan(0, length);
                zip.ReadEntry(Entry(zip, archive, storage), bytes);
                if (bigEndian) SwapBytes(bytes, group.First().Tensor.DType.Size);
                foreach (var (key, tensor) in group) values[key] = Materialize(bytes, tensor);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        var state = new StateDict();
        foreach (var (key, _) in tensors) state[key] = values[key];
        ApplyMetadata(state, pickle, dict.Attributes);
        return new PyTorchCheckpointFile(state, skipped);
    }

    private static ZipEntry Entry(ZipDirectory zip, string archive, StorageRef storage)
    {
        string name = $"{archive}/data/{storage.Key}";
        ZipEntry entry = zip.Find(name) ?? throw Fail($"storage \"{storage.Key}\" has no entry {name} in the archive");
        if (entry.Length != storage.ByteLength)
            throw Fail($"storage \"{storage.Key}\" claims {storage.ByteLength:N0} bytes ({storage.DType.Name}), its entry {name} holds {entry.Length:N0}");
        if (storage.ByteLength > Array.MaxLength)
            throw Fail($"storage \"{storage.Key}\" holds {storage.ByteLength:N0} bytes, more than the {Array.MaxLength:N0} NormSharp reads in one piece");
        return entry;
    }

    private static void CheckBudget(List<TensorRef> tensors)
    {
        long output = 0, viewed = 0;
        foreach (TensorRef tensor in tensors)
        {
            if (tensor.ElementCount > Array.MaxLength)
                throw Fail($"a tensor of {tensor.ElementCount:N0} elements on storage \"{tensor.Storage.Key}\": more than one .NET array holds");
            output = SaturatingAdd(output, tensor.ElementCount * tensor.DType.Size);
        }

        foreach (StorageRef storage in tensors.Select(t => t.Storage).Distinct()) viewed = SaturatingAdd(viewed, storage.ByteLength);
        long allowed = SaturatingAdd(viewed > long.MaxValue / PyTorchCheckpoint.MaxViewExpansion ? long.MaxValue : viewed * PyTorchCheckpoint.MaxViewExpansion,
                                     PyTorchCheckpoint.ExpansionAllowance);
        if (output > allowed)
        {
            throw Fail($"the tensors would take {output:N0} bytes, more than {PyTorchCheckpoint.MaxViewExpansion} times the {viewed:N0} bytes of " +
                       $"the storages they view plus {PyTorchCheckpoint.ExpansionAllowance >> 20} MiB: refused (views repeated or broadcast without bound)");
        }
    }

    private static StateTensor Materialize(ReadOnlySpan<byte> bytes, TensorRef tensor) => tensor.DType.Loaded switch
    {
        StateDType.Float32 => Copy<float>(bytes, tensor, StateTensor.FromSingles),
        StateDType.Float64 => Copy<double>(bytes, tensor, StateTensor.FromDoubles),
        StateDType.Int64 => Copy<long>(bytes, tensor, StateTensor.FromInt64s),
        StateDType.Float16 => Copy<Half>(bytes, tensor, StateTensor.FromHalves),
        StateDType.BFloat16 => Copy<ushort>(bytes, tensor, StateTensor.FromBFloat16Bits),
        _ => throw new InvalidOperationException($"no reader for {tensor.DType.Name}."),
    };

    /// <summary>The tensor's elements in row-major order: a slice of the storage when they already lie so, else gathered
    /// by strides into a pooled buffer.</summary>
    private static StateTensor Copy<T>(ReadOnlySpan<byte> bytes, TensorRef tensor, Factory<T> create)
        where T : unmanaged
    {
        ReadOnlySpan<T> storage = MemoryMarshal.Cast<byte, T>(bytes);
        int count = (int)tensor.ElementCount;
        long[] shape = (long[])tensor.Shape.Clone();
        if (tensor.IsRowMajor) return create(storage.Slice((int)tensor.Offset, count), shape);
        T[] buffer = ArrayPool<T>.Shared.Rent(count);
        try
        {
            Gather(storage, tensor, buffer.AsSpan(0, count));
            return create(buffer.AsSpan(0, count), shape);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(buffer);
        }
    }

    /// <summary>destination[i] = storage[offset + Σ_d index_d(i) · stride_d], i running over the shape in row-major order.</summary>
    private static void Gather<T>(ReadOnlySpan<T> storage, TensorRef tensor, Span<T> destination)
    {
        long[] shape = tensor.Shape, strides = tensor.Strides;
        int rank = shape.Length;
        Span<long> index = stackalloc long[rank];
        long source = tensor.Offset;
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = storage[(int)source];
            for (int d = rank - 1; d >= 0; d--)
            {
                source += strides[d];
                if (++index[d] < shape[d]) break;
                source -= strides[d] * shape[d];
                index[d] = 0;
            }
        }
    }

    private static void SwapBytes(Span<byte> bytes, int size)
    {
        switch (size)
        {
            case 2:
                Span<ushort> halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                BinaryPrimitives.ReverseEndianness(halves, halves);
                break;
            case 4:
                Span<uint> words = MemoryMarshal.Cast<byte, uint>(bytes);
                BinaryPrimitives.ReverseEndianness(words, words);
                break;
            case 8:
                Span<ulong> longs = MemoryMarshal.Cast<byte, ulong>(bytes);
                BinaryPrimitives.ReverseEndianness(longs, longs);
                break;
        }
    }

    /// <summary>PyTorch's <c>_metadata</c> (module name → {"version": N}) as <see cref="StateDict.ModuleVersions"/>; the root's
    /// version (<c>""</c>) as <see cref="StateDict.Version"/>. A plain dict has none: every version is null.</summary>
    private static void ApplyMetadata(StateDict state, Unpickled pickle, PyDict? attributes)
    {
        if (attributes is null || !pickle.TryGet(attributes, "_metadata", out object? metadata)) return;
        if (metadata is not PyDict modules) throw Fail($"the state dict's _metadata is {RestrictedUnpickler.Describe(metadata)}, not a dict");
        var versions = new Dictionary<string, int?>(StringComparer.Ordinal);
        foreach (var (key, value) in modules.Entries)
        {
            if (key is not string module || value is not PyDict local)
                throw Fail("the state dict's _metadata is not a dict of module names to dicts");
            int? version = null;
            if (pickle.TryGet(local, "version", out object? stored))
            {
                version = stored switch
                {
                    long v and >= int.MinValue and <= int.MaxValue => (int)v,
                    null => null,
                    _ => throw Fail($"the _metadata version of module {Quoting.Quote(module)} is {RestrictedUnpickler.Describe(stored)}, not an integer"),
                };
            }

            versions[module] = version;
        }

        state.ModuleVersions = versions;
        state.Version = versions.GetValueOrDefault("");
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private static PyTorchCheckpointException Fail(string message) => new(message + ".");
}
