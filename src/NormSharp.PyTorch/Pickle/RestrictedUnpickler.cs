using System.Buffers.Binary;
using System.Text;
using NormSharp.PyTorch.Tensors;

namespace NormSharp.PyTorch.Pickle;

/// <summary>
/// A pickle virtual machine restricted as PyTorch's <c>weights_only=True</c> unpickler is: globals come only from
/// <see cref="AllowList"/> (any other name is refused when it is read, before anything is built), REDUCE and NEWOBJ only
/// apply the allowed rebuild functions, BUILD only sets an OrderedDict's attributes, APPEND only extends lists and
/// SETITEM only fills dicts, and persistent ids only name storages. Nothing is ever executed: the "functions" are
/// descriptions of data.
/// </summary>
/// <remarks>
/// <para>The opcodes are those of protocols 2 to 5 that a torch.save pickle uses (PyTorch 1.13's list, plus BINFLOAT and the
/// framing, string and memo opcodes of protocol 4, which are data only); the text opcodes of protocol 0, INST and OBJ
/// (which name globals in another way), sets, bytes, extensions and out-of-band buffers are refused.</para>
/// <para>Work and memory are linear in the pickle's length: every length is checked against the bytes left before
/// anything is allocated, integers are at most 64 bits, global names at most <see cref="MaxGlobalNameLength"/> characters,
/// and each distinct string is made once (dict keys compare by reference), so repeating a memoized string or key costs
/// two bytes of pickle and constant time.</para>
/// </remarks>
internal sealed class RestrictedUnpickler
{
    /// <summary>The longest module or name of a global accepted.</summary>
    public const int MaxGlobalNameLength = 256;

    /// <summary>The most dimensions a tensor may have (PyTorch's own limit is 64 too).</summary>
    public const int MaxDimensions = 64;

    private const byte Mark = (byte)'(', Stop = (byte)'.', Pop = (byte)'0', PopMark = (byte)'1', BinInt = (byte)'J',
        BinInt1 = (byte)'K', BinInt2 = (byte)'M', None = (byte)'N', BinPersId = (byte)'Q', Reduce = (byte)'R',
        ShortBinString = (byte)'U', BinUnicode = (byte)'X', Append = (byte)'a', Build = (byte)'b', Global = (byte)'c',
        Appends = (byte)'e', BinGet = (byte)'h', Inst = (byte)'i', LongBinGet = (byte)'j', EmptyList = (byte)']',
        BinPut = (byte)'q', LongBinPut = (byte)'r', SetItem = (byte)'s', Tuple = (byte)'t', EmptyTuple = (byte)')',
        SetItems = (byte)'u', BinFloat = (byte)'G', EmptyDict = (byte)'}', Proto = 0x80, NewObj = 0x81, Tuple1 = 0x85,
        Tuple2 = 0x86, Tuple3 = 0x87, NewTrue = 0x88, NewFalse = 0x89, Long1 = 0x8a, ShortBinUnicode = 0x8c,
        BinUnicode8 = 0x8d, StackGlobal = 0x93, Memoize = 0x94, Frame = 0x95;

    private static readonly Dictionary<byte, string> OpcodeNames = new()
    {
        [(byte)'('] = "MARK", [(byte)'.'] = "STOP", [(byte)'0'] = "POP", [(byte)'1'] = "POP_MARK", [(byte)'2'] = "DUP",
        [(byte)'F'] = "FLOAT", [(byte)'I'] = "INT", [(byte)'J'] = "BININT", [(byte)'K'] = "BININT1", [(byte)'L'] = "LONG",
        [(byte)'M'] = "BININT2", [(byte)'N'] = "NONE", [(byte)'P'] = "PERSID", [(byte)'Q'] = "BINPERSID", [(byte)'R'] = "REDUCE",
        [(byte)'S'] = "STRING", [(byte)'T'] = "BINSTRING", [(byte)'U'] = "SHORT_BINSTRING", [(byte)'V'] = "UNICODE",
        [(byte)'X'] = "BINUNICODE", [(byte)'a'] = "APPEND", [(byte)'b'] = "BUILD", [(byte)'c'] = "GLOBAL", [(byte)'d'] = "DICT",
        [(byte)'}'] = "EMPTY_DICT", [(byte)'e'] = "APPENDS", [(byte)'g'] = "GET", [(byte)'h'] = "BINGET", [(byte)'i'] = "INST",
        [(byte)'j'] = "LONG_BINGET", [(byte)'l'] = "LIST", [(byte)']'] = "EMPTY_LIST", [(byte)'o'] = "OBJ", [(byte)'p'] = "PUT",
        [(byte)'q'] = "BINPUT", [(byte)'r'] = "LONG_BINPUT", [(byte)'s'] = "SETITEM", [(byte)'t'] = "TUPLE",
        [(byte)')'] = "EMPTY_TUPLE", [(byte)'u'] = "SETITEMS", [(byte)'G'] = "BINFLOAT", [0x80] = "PROTO", [0x81] = "NEWOBJ",
        [0x82] = "EXT1", [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1", [0x86] = "TUPLE2", [0x87] = "TUPLE3",
        [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8a] = "LONG1", [0x8b] = "LONG4", [0x8c] = "SHORT_BINUNICODE",
        [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8", [0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET",
        [0x92] = "NEWOBJ_EX", [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME", [0x96] = "BYTEARRAY8",
        [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER", [(byte)'B'] = "BINBYTES", [(byte)'C'] = "SHORT_BINBYTES",
    };

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private readonly byte[] data;
    private readonly Stack<List<object?>> marks = new();
    private readonly Dictionary<long, object?> memo = [];
    private readonly Dictionary<string, string> strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StorageRef> storages = new(StringComparer.Ordinal);
    private List<object?> stack = [];
    private int position;
    private int opcodeStart;

    private RestrictedUnpickler(byte[] data) => this.data = data;

    /// <summary>Unpickles <paramref name="pickle"/> (a torch.save <c>data.pkl</c>) into plain data, tensor descriptions and
    /// storage descriptions.</summary>
    /// <exception cref="PyTorchCheckpointException">The pickle is malformed, or asks for something a weights-only load
    /// refuses; the message names the opcode or global and its byte offset.</exception>
    public static Unpickled Load(byte[] pickle)
    {
        var unpickler = new RestrictedUnpickler(pickle);
        return new Unpickled(unpickler.Run(), unpickler.strings);
    }

    private object? Run()
    {
        while (true)
        {
            if (position >= data.Length) throw Fail("the pickle ends without STOP");
            opcodeStart = position;
            byte opcode = data[position++];
            switch (opcode)
            {
                case Proto:
                    byte protocol = ReadByte();
                    if (protocol > 5) throw Fail($"pickle protocol {protocol} is not known (the highest is 5)");
                    break;
                case Frame:
                    ulong frame = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
                    if (frame > (ulong)(data.Length - position)) throw Fail($"a frame of {frame} bytes runs past the pickle");
                    break;
                case Stop:
                    if (marks.Count > 0 || stack.Count != 1) throw Fail("STOP with an unfinished stack");
                    return stack[0];
                case Mark:
                    marks.Push(stack);
                    stack = [];
                    break;
                case Pop:
                    if (stack.Count > 0) stack.RemoveAt(stack.Count - 1);
                    else PopToMark();
                    break;
                case PopMark:
                    PopToMark();
                    break;
                case Global:
                    string module = ReadLine(), name = ReadLine();
                    Push(Resolve(module, name));
                    break;
                case StackGlobal:
                    object? globalName = PopValue(), globalModule = PopValue();
                    if (globalModule is not string m || globalName is not string n) throw Fail("STACK_GLOBAL needs two strings");
                    Push(Resolve(m, n));
                    break;
                case Inst:
                    string instModule = ReadLine(), instName = ReadLine();
                    throw NotAllowed($"{instModule}.{instName}", "INST");
                case BinPersId:
                    Push(PersistentLoad(PopValue()));
                    break;
                case Reduce:
                    object? arguments = PopValue(), function = PopValue();
                    Push(Call(function, arguments));
                    break;
                case NewObj:
                    object? newArguments = PopValue(), type = PopValue();
                    Push(Construct(type, newArguments));
                    break;
                case Build:
                    object? state = PopValue();
                    SetState(Peek(), state);
                    break;
                case EmptyDict:
                    Push(new PyDict(ordered: false));
                    break;
                case EmptyList:
                    Push(new PyList());
                    break;
                case EmptyTuple:
                    Push(PyTuple.Empty);
                    break;
                case Tuple:
                    Push(new PyTuple([.. PopToMark()]));
                    break;
                case Tuple1:
                case Tuple2:
                case Tuple3:
                    int size = opcode - Tuple1 + 1;
                    if (stack.Count < size) throw Fail($"{OpcodeNames[opcode]} needs {size} values on the stack");
                    object?[] items = [.. stack.GetRange(stack.Count - size, size)];
                    stack.RemoveRange(stack.Count - size, size);
                    Push(new PyTuple(items));
                    break;
                case Append:
                    object? appended = PopValue();
                    ListOf(Peek()).Add(appended);
                    break;
                case Appends:
                    List<object?> appendedItems = PopToMark();
                    ListOf(Peek()).AddRange(appendedItems);
                    break;
                case SetItem:
                    object? value = PopValue(), key = PopValue();
                    DictOf(Peek()).Set(KeyOf(key), value);
                    break;
                case SetItems:
                    List<object?> pairs = PopToMark();
                    if (pairs.Count % 2 != 0) throw Fail("SETITEMS with an odd number of values");
                    PyDict target = DictOf(Peek());
                    for (int i = 0; i < pairs.Count; i += 2) target.Set(KeyOf(pairs[i]), pairs[i + 1]);
                    break;
                case None:
                    Push(null);
                    break;
                case NewTrue:
                    Push(true);
                    break;
                case NewFalse:
                    Push(false);
                    break;
                case BinInt:
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                    break;
                case BinInt1:
                    Push((long)ReadByte());
                    break;
                case BinInt2:
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                    break;
                case Long1:
                    Push(DecodeLong(Take(ReadByte())));
                    break;
                case BinFloat:
                    Push(BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64BigEndian(Take(8))));
                    break;
                case BinUnicode:
                    Push(Utf8(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))));
                    break;
                case ShortBinUnicode:
                    Push(Utf8(Take(ReadByte())));
                    break;
                case BinUnicode8:
                    Push(Utf8(Take(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))));
                    break;
                case ShortBinString:
                    Push(Intern(Encoding.Latin1.GetString(Take(ReadByte()))));
                    break;
                case BinGet:
                    Push(MemoGet(ReadByte()));
                    break;
                case LongBinGet:
                    Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))));
                    break;
                case BinPut:
                    memo[ReadByte()] = Peek();
                    break;
                case LongBinPut:
                    memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek();
                    break;
                case Memoize:
                    memo[memo.Count] = Peek();
                    break;
                default:
                    string opcodeName = OpcodeNames.TryGetValue(opcode, out string? known) ? known : "unknown";
                    throw Fail($"opcode 0x{opcode:x2} ({opcodeName}) is not allowed in a weights-only load");
            }
        }
    }

    private PyGlobal Resolve(string module, string name)
    {
        if (module.Length > MaxGlobalNameLength || name.Length > MaxGlobalNameLength)
            throw Fail($"a global named with {Math.Max(module.Length, name.Length)} characters");
        string fullName = $"{module}.{name}";
        if (AllowList.Globals.TryGetValue(fullName, out PyGlobal? allowed)) return allowed;
        if (AllowList.NotRead.TryGetValue(fullName, out string? what))
            throw Fail($"{fullName} is allowed by PyTorch's weights-only unpickler, but builds {what}, which NormSharp does not read");
        throw NotAllowed(fullName, "GLOBAL");
    }

    private PyTorchCheckpointException NotAllowed(string fullName, string opcode) =>
        Fail($"the pickle asks for the global {fullName} ({opcode}), which is not on the allow-list of a weights-only load: " +
             "refused, nothing was run" +
             (AllowList.Uninitialized.Contains(fullName)
                 ? " (a lazy layer's uninitialized tensor: the state dict was saved before the layer's first forward, and PyTorch's " +
                   "weights-only load refuses it too; save after a forward)"
                 : ""));

    private StorageRef PersistentLoad(object? id)
    {
        if (id is not PyTuple { Items: [string kind, PyGlobal type, string key, string location, long count] })
            throw Fail("a persistent id that is not (\"storage\", storage type, key, location, element count)");
        if (kind != "storage") throw Fail($"a persistent id of kind {Quoting.Quote(kind)}; only storages are allowed");
        _ = location; // Read on the CPU whatever the device it was saved from, as map_location="cpu" does.
        if (key.Length == 0 || key.Length > MaxGlobalNameLength || key == "." || key == ".." || key.Any(c => c is '/' or '\\' || char.IsControl(c)))
            throw Fail($"storage key {Quoting.Quote(key)} is not a file name");
        if (count < 0) throw Fail($"storage \"{key}\" has a negative element count ({count})");
        TorchDType dtype = type.Kind switch
        {
            GlobalKind.StorageClass or GlobalKind.UntypedStorage => type.DType!,
            GlobalKind.TypedStorage => throw Fail($"storage \"{key}\" is a torch.storage.TypedStorage, which names no element type"),
            _ => throw Fail($"storage \"{key}\" has type {type.FullName}, which is not a storage class"),
        };
        long byteLength = count > long.MaxValue / dtype.Size ? throw Fail($"storage \"{key}\" claims {count} elements") : count * dtype.Size;
        var storage = new StorageRef(key, dtype, byteLength, type.Kind == GlobalKind.UntypedStorage);
        if (storages.TryGetValue(key, out StorageRef? earlier))
        {
            if (earlier != storage) throw Fail($"storage \"{key}\" is described twice, differently");
            return earlier;
        }

        storages[key] = storage;
        return storage;
    }

    private object Call(object? function, object? arguments)
    {
        if (function is not PyGlobal callee) throw Fail($"REDUCE calls {TypeName(function)}; only allowed functions can be called");
        if (arguments is not PyTuple { Items: var args }) throw Fail($"REDUCE of {callee.FullName} with arguments that are not a tuple");
        switch (callee.Kind)
        {
            case GlobalKind.OrderedDict:
                return OrderedDict(args);
            case GlobalKind.RebuildTensor when args.Length == 4:
            case GlobalKind.RebuildTensorV2 when args.Length is 6 or 7:
                return Tensor(args[0], args[1], args[2], args[3], args.Length > 4 ? args[5] : null, explicitType: null);
            case GlobalKind.RebuildTensorV3 when args.Length is 7 or 8:
                if (args[6] is not PyGlobal { Kind: GlobalKind.DType, DType: { } dtype }) throw Fail("_rebuild_tensor_v3 without a dtype");
                return Tensor(args[0], args[1], args[2], args[3], args[5], dtype);
            case GlobalKind.RebuildParameter when args.Length == 3:
            case GlobalKind.RebuildParameterWithState when args.Length == 4:
                return args[0] as TensorRef ?? throw Fail($"{callee.FullName} of {TypeName(args[0])}, not a tensor");
            case GlobalKind.Size when args is [PyTuple sizes] && sizes.Items.Length <= MaxDimensions && sizes.Items.All(s => s is long):
                return sizes;
            case GlobalKind.Device when args is [string deviceType] || args is [string, long]:
                return new TorchDevice((string)args[0]!, args.Length > 1 ? (long)args[1]! : null);
            default:
                throw Fail($"{callee.FullName} cannot be called with {args.Length} argument(s) in a weights-only load");
        }
    }

    /// <summary><c>OrderedDict()</c>, or <c>OrderedDict(())</c> as other writers than PyTorch pickle an empty one. Items come
    /// by SETITEMS only: an OrderedDict built from a memoized list of pairs would copy it at each use.</summary>
    private PyDict OrderedDict(object?[] args)
    {
        if (args is [] or [PyTuple { Items.Length: 0 }] or [PyList { Items.Count: 0 }]) return new PyDict(ordered: true);
        throw Fail("collections.OrderedDict called with items; a weights-only load builds it empty and fills it with SETITEMS");
    }

    private TensorRef Construct(object? type, object? arguments)
    {
        if (type is not PyGlobal { Kind: GlobalKind.ParameterClass } || arguments is not PyTuple { Items: [TensorRef data, ..] })
            throw Fail($"NEWOBJ of {(type as PyGlobal)?.FullName ?? TypeName(type)}; only torch.nn.Parameter of a tensor can be built");
        return data;
    }

    private void SetState(object? instance, object? state)
    {
        if (instance is not PyDict { Ordered: true } dict) throw Fail($"BUILD on {TypeName(instance)}; only an OrderedDict's attributes can be set");
        if (state is not PyDict attributes) throw Fail($"BUILD of an OrderedDict with {TypeName(state)} for its attributes");
        if (dict.Attributes is not null) throw Fail("BUILD of an OrderedDict whose attributes are already set");
        dict.Attributes = attributes; // kept, not copied: a memoized state used again costs nothing
    }

    private TensorRef Tensor(object? storageArgument, object? offsetArgument, object? sizeArgument, object? strideArgument, object? hooks, TorchDType? explicitType)
    {
        if (storageArgument is not StorageRef storage) throw Fail($"a tensor rebuilt from {TypeName(storageArgument)}, not a storage");
        if (offsetArgument is not long offset || offset < 0) throw Fail($"tensor on storage \"{storage.Key}\": the storage offset is not an integer >= 0");
        long[] shape = Dimensions(sizeArgument, storage, "sizes");
        long[] strides = Dimensions(strideArgument, storage, "strides");
        if (shape.Length != strides.Length) throw Fail($"tensor on storage \"{storage.Key}\": {shape.Length} sizes but {strides.Length} strides");
        if (hooks is PyDict { Count: > 0 }) throw Fail($"tensor on storage \"{storage.Key}\" comes with backward hooks");
        TorchDType dtype = explicitType ?? storage.DType;
        if (explicitType is not null && !storage.Untyped && explicitType != storage.DType)
            throw Fail($"tensor on storage \"{storage.Key}\": dtype {explicitType.Name} on a {storage.DType.Name} storage");

        long count = 1, last = offset;
        try
        {
            checked
            {
                for (int d = 0; d < shape.Length; d++) count *= shape[d];
                if (count > 0) for (int d = 0; d < shape.Length; d++) last += (shape[d] - 1) * strides[d];
                long needed = count == 0 ? offset * dtype.Size : (last + 1) * dtype.Size;
                if (needed > storage.ByteLength)
                {
                    throw Fail($"tensor on storage \"{storage.Key}\" (offset {offset}, sizes [{string.Join(", ", shape)}], strides " +
                               $"[{string.Join(", ", strides)}]) reaches past the storage's {storage.ByteLength / dtype.Size} elements");
                }
            }
        }
        catch (OverflowException)
        {
            throw Fail($"tensor on storage \"{storage.Key}\": its sizes and strides overflow");
        }

        return new TensorRef(storage, dtype, offset, shape, strides, count);
    }

    private long[] Dimensions(object? argument, StorageRef storage, string what)
    {
        if (argument is not PyTuple { Items: var items } || items.Length > MaxDimensions || items.Any(i => i is not (long and >= 0)))
            throw Fail($"tensor on storage \"{storage.Key}\": its {what} are not a tuple of at most {MaxDimensions} integers >= 0");
        return [.. items.Cast<long>()];
    }

    private object? MemoGet(long index) => memo.TryGetValue(index, out object? value)
        ? value
        : throw Fail($"memo entry {index} is read before it is written");

    private object KeyOf(object? key) => key is string or long
        ? key
        : throw Fail($"a dict key of type {TypeName(key)}; state dicts are keyed by strings and integers");

    private List<object?> ListOf(object? target) =>
        (target as PyList)?.Items ?? throw Fail($"APPEND to {TypeName(target)}; only lists can be appended to");

    private PyDict DictOf(object? target) =>
        target as PyDict ?? throw Fail($"SETITEM on {TypeName(target)}; only dicts can be filled");

    private void Push(object? value) => stack.Add(value);

    private object? PopValue()
    {
        if (stack.Count == 0) throw Fail("a value is taken from an empty stack");
        object? value = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    private object? Peek() => stack.Count > 0 ? stack[^1] : throw Fail("a value is read from an empty stack");

    private List<object?> PopToMark()
    {
        if (marks.Count == 0) throw Fail("no MARK to return to");
        List<object?> items = stack;
        stack = marks.Pop();
        return items;
    }

    private byte ReadByte() => position < data.Length ? data[position++] : throw Fail("the pickle ends inside an opcode");

    private ReadOnlySpan<byte> Take(ulong count)
    {
        if (count > (ulong)(data.Length - position)) throw Fail($"a length of {count} bytes runs past the end of the pickle");
        var span = data.AsSpan(position, (int)count);
        position += (int)count;
        return span;
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', position, Math.Min(data.Length - position, 2 * MaxGlobalNameLength + 2));
        if (end < 0) throw Fail("a global's name does not end with a newline within 514 bytes");
        string line = Utf8(data.AsSpan(position, end - position));
        position = end + 1;
        return line;
    }

    private string Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return Intern(StrictUtf8.GetString(bytes));
        }
        catch (DecoderFallbackException)
        {
            throw Fail("a string is not valid UTF-8");
        }
    }

    private string Intern(string value)
    {
        if (strings.TryGetValue(value, out string? canonical)) return canonical;
        strings[value] = value;
        return value;
    }

    private long DecodeLong(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return 0;
        if (bytes.Length > 8)
        {
            // Python writes the shortest two's complement: more than 8 bytes is out of range unless they are sign padding.
            byte padding = (bytes[^1] & 0x80) != 0 ? (byte)0xff : (byte)0;
            if (bytes[8..].ContainsAnyExcept(padding) || ((bytes[7] & 0x80) != 0) != (padding != 0))
                throw Fail($"an integer of {bytes.Length} bytes, beyond 64 bits");
            bytes = bytes[..8];
        }

        Span<byte> buffer = stackalloc byte[8];
        buffer.Fill((bytes[^1] & 0x80) != 0 ? (byte)0xff : (byte)0);
        bytes.CopyTo(buffer);
        return BinaryPrimitives.ReadInt64LittleEndian(buffer);
    }

    private static string TypeName(object? value) => value switch
    {
        null => "None",
        bool => "a bool",
        long => "an int",
        double => "a float",
        string => "a str",
        PyTuple => "a tuple",
        PyList => "a list",
        PyDict { Ordered: true } => "an OrderedDict",
        PyDict => "a dict",
        PyGlobal g => g.FullName,
        StorageRef => "a storage",
        TensorRef => "a tensor",
        TorchDevice => "a torch.device",
        _ => value.GetType().Name,
    };

    private PyTorchCheckpointException Fail(string message) => new($"data.pkl, byte {opcodeStart}: {message}.");

    /// <summary>How a value is named in messages ("a tensor", "an int").</summary>
    internal static string Describe(object? value) => TypeName(value);
}
