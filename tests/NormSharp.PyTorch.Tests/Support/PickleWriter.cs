using System.Buffers.Binary;
using System.Text;

namespace NormSharp.PyTorch.Tests.Support;

/// <summary>Writes pickles opcode by opcode, as Python's pickler (protocol 2) does: for hand-made hostile files and for
/// state dicts with tensors that PyTorch would not write on its own.</summary>
public sealed class PickleWriter
{
    private readonly List<byte> bytes = [];

    public PickleWriter Op(char opcode) => Op((byte)opcode);

    public PickleWriter Op(byte opcode)
    {
        bytes.Add(opcode);
        return this;
    }

    public PickleWriter Raw(params byte[] raw)
    {
        bytes.AddRange(raw);
        return this;
    }

    public PickleWriter Proto(byte protocol = 2) => Op(0x80).Raw(protocol);

    public PickleWriter Global(string module, string name) => Op('c').Raw([.. Encoding.UTF8.GetBytes($"{module}\n{name}\n")]);

    public PickleWriter Str(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)utf8.Length);
        return Op('X').Raw(length).Raw(utf8);
    }

    public PickleWriter Int(long value)
    {
        if (value is >= 0 and < 256) return Op('K').Raw((byte)value);
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            var four = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(four, (int)value);
            return Op('J').Raw(four);
        }

        var eight = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(eight, value);
        return Op(0x8a).Raw(8).Raw(eight);
    }

    public PickleWriter Bool(bool value) => Op(value ? (byte)0x88 : (byte)0x89);

    public PickleWriter Mark() => Op('(');

    public PickleWriter Tuple() => Op('t');

    public PickleWriter EmptyTuple() => Op(')');

    public PickleWriter EmptyDict() => Op('}');

    public PickleWriter Reduce() => Op('R');

    public PickleWriter SetItem() => Op('s');

    public PickleWriter SetItems() => Op('u');

    public PickleWriter Stop() => Op('.');

    public PickleWriter Ints(IEnumerable<long> values)
    {
        Mark();
        foreach (long value in values) Int(value);
        return Tuple();
    }

    /// <summary>_rebuild_tensor_v2((storage id), offset, size, stride, False, OrderedDict()), as torch.save writes a tensor.</summary>
    public PickleWriter Tensor(TensorSpec tensor)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global(tensor.StorageModule, tensor.StorageClass).Str(tensor.Key).Str("cpu").Int(tensor.StorageElements).Tuple().Op('Q');
        Int(tensor.Offset).Ints(tensor.Shape).Ints(tensor.Strides).Bool(false).Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return Tuple().Reduce();
    }

    /// <summary>An OrderedDict of tensors with PyTorch's _metadata, as torch.save(module.state_dict()) writes it.</summary>
    public static byte[] StateDict(IEnumerable<(string Name, TensorSpec Tensor)> tensors, IReadOnlyDictionary<string, int?>? metadata = null)
    {
        var pickle = new PickleWriter().Proto().Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        foreach (var (name, tensor) in tensors) pickle.Str(name).Tensor(tensor);
        pickle.SetItems();
        if (metadata is not null)
        {
            pickle.EmptyDict().Str("_metadata").Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
            foreach (var (module, version) in metadata)
            {
                pickle.Str(module).EmptyDict();
                if (version is int v) pickle.Str("version").Int(v).SetItem();
            }

            pickle.SetItems().SetItem().Op('b');
        }

        return pickle.Stop().ToArray();
    }

    public byte[] ToArray() => [.. bytes];
}

/// <summary>A tensor as a pickle describes it: a view of storage <paramref name="Key"/>.</summary>
public sealed record TensorSpec(string StorageClass, string Key, long StorageElements, long Offset, long[] Shape, long[] Strides, string StorageModule = "torch")
{
    /// <summary>A row-major tensor that fills its own storage.</summary>
    public static TensorSpec Whole(string storageClass, string key, params long[] shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= shape[d];
        }

        return new TensorSpec(storageClass, key, stride, 0, shape, strides);
    }
}
