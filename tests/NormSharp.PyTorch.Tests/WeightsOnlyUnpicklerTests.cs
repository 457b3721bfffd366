using NormSharp.PyTorch.Tests.Support;

namespace NormSharp.PyTorch.Tests;

/// <summary>
/// The unpickler allows what PyTorch's weights-only unpickler allows and refuses the rest, naming what it refused; a
/// refused pickle builds nothing and runs nothing.
/// </summary>
public class WeightsOnlyUnpicklerTests
{
    private const string Marker = "/tmp/normsharp-unpickler-pwned";

    /// <summary>A torch.save archive around <paramref name="pickle"/>, with storage "0" of 3 floats.</summary>
    private static PyTorchCheckpointFile Read(PickleWriter pickle) =>
        RawZip.Read(TorchArchive.Create(pickle.ToArray(), [("0", TorchArchive.Bytes(1f, 2f, 3f))]));

    private static PickleWriter Start() => new PickleWriter().Proto();

    private static PickleWriter Call(string module, string name, string argument) =>
        Start().Global(module, name).Mark().Str(argument).Tuple().Reduce().Stop();

    /// <summary>A state dict whose one tensor is built by <paramref name="tensor"/>.</summary>
    private static PickleWriter StateDictWith(Action<PickleWriter> tensor)
    {
        var pickle = Start().EmptyDict().Str("w");
        tensor(pickle);
        return pickle.SetItem().Stop();
    }

    private static PickleWriter Storage(PickleWriter pickle, string type = "FloatStorage", string key = "0", long count = 3, string module = "torch") =>
        pickle.Mark().Str("storage").Global(module, type).Str(key).Str("cpu").Int(count).Tuple().Op('Q');

    private static PickleWriter Rebuild(PickleWriter pickle, long offset, long[] size, long[] stride, string type = "FloatStorage", long count = 3) =>
        Storage(pickle.Global("torch._utils", "_rebuild_tensor_v2").Mark(), type, count: count)
            .Int(offset).Ints(size).Ints(stride).Bool(false).Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();

    public static TheoryData<string, PickleWriter, string> Refused() => new()
    {
        { "os.system", Call("os", "system", $"touch {Marker}"), "the pickle asks for the global os.system (GLOBAL), which is not on the allow-list of a weights-only load: refused, nothing was run" },
        { "posix.system", Call("posix", "system", $"touch {Marker}"), "the global posix.system (GLOBAL)" },
        { "builtins.eval", Call("builtins", "eval", $"__import__('os').system('touch {Marker}')"), "the global builtins.eval (GLOBAL)" },
        { "builtins.exec by STACK_GLOBAL", Start().Str("builtins").Str("exec").Op(0x93).Mark().Str("import os").Tuple().Reduce().Stop(), "the global builtins.exec (GLOBAL)" },
        { "subprocess.Popen by NEWOBJ", Start().Global("subprocess", "Popen").Mark().Str("touch").Tuple().Op(0x81).Stop(), "the global subprocess.Popen (GLOBAL)" },
        { "os.system by INST", Start().Mark().Str($"touch {Marker}").Op('i').Raw("os\nsystem\n"u8.ToArray()).Stop(), "the global os.system (INST)" },
        { "a global inside the state dict", Start().EmptyDict().Str("w").Global("torch", "load").SetItem().Stop(), "the global torch.load (GLOBAL)" },
        { "REDUCE of a string", Start().Str("os.system").EmptyTuple().Reduce().Stop(), "REDUCE calls a str; only allowed functions can be called" },
        { "REDUCE of a storage class", Start().Global("torch", "FloatStorage").EmptyTuple().Reduce().Stop(), "torch.FloatStorage cannot be called with 0 argument(s)" },
        { "OrderedDict of a string", Start().Global("collections", "OrderedDict").Mark().Str("x").Tuple().Reduce().Stop(), "collections.OrderedDict called with items; a weights-only load builds it empty and fills it with SETITEMS" },
        { "OrderedDict of pairs", Start().Global("collections", "OrderedDict").Mark().Op(']').Mark().Str("k").Int(1).Tuple().Op('a').Tuple().Reduce().Stop(), "collections.OrderedDict called with items" },
        { "BUILD twice", Start().Global("collections", "OrderedDict").EmptyTuple().Reduce().EmptyDict().Op('b').EmptyDict().Op('b').Stop(), "BUILD of an OrderedDict whose attributes are already set" },
        { "torch.Size of 65 dimensions", Start().Global("torch", "Size").Mark().Ints(Enumerable.Repeat(1L, 65)).Tuple().Reduce().Stop(), "torch.Size cannot be called with 1 argument(s)" },
        { "NEWOBJ of OrderedDict", Start().Global("collections", "OrderedDict").EmptyTuple().Op(0x81).Stop(), "NEWOBJ of collections.OrderedDict; only torch.nn.Parameter of a tensor can be built" },
        { "BUILD on a list", Start().Op(']').EmptyDict().Op('b').Stop(), "BUILD on a list; only an OrderedDict's attributes can be set" },
        { "BUILD on a plain dict", Start().EmptyDict().EmptyDict().Op('b').Stop(), "BUILD on a dict; only an OrderedDict's attributes can be set" },
        { "APPEND to a dict", Start().EmptyDict().Int(1).Op('a').Stop(), "APPEND to a dict; only lists can be appended to" },
        { "SETITEM on a list", Start().Op(']').Int(1).Int(2).SetItem().Stop(), "SETITEM on a list; only dicts can be filled" },
        { "a tuple as a dict key", Start().EmptyDict().Mark().Tuple().Int(1).SetItem().Stop(), "a dict key of type a tuple" },
        { "a sparse tensor", Start().Global("torch._utils", "_rebuild_sparse_tensor").Stop(), "torch._utils._rebuild_sparse_tensor is allowed by PyTorch's weights-only unpickler, but builds a sparse tensor, which NormSharp does not read" },
        { "OBJ", Start().Mark().Op('o').Stop(), "opcode 0x6f (OBJ) is not allowed in a weights-only load" },
        { "EXT1", Start().Op(0x82).Raw(1).Stop(), "opcode 0x82 (EXT1) is not allowed" },
        { "text INT", Start().Op('I').Raw("1\n"u8.ToArray()).Stop(), "opcode 0x49 (INT) is not allowed" },
        { "an unknown opcode", Start().Op(0xff).Stop(), "opcode 0xff (unknown) is not allowed" },
        { "protocol 6", new PickleWriter().Proto(6).EmptyDict().Stop(), "pickle protocol 6 is not known" },
        { "a persistent id of a module", Start().EmptyDict().Str("w").Mark().Str("module").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(3).Tuple().Op('Q').SetItem().Stop(), "a persistent id of kind \"module\"; only storages are allowed" },
        { "a persistent id of the wrong shape", Start().Str("0").Op('Q').Stop(), "a persistent id that is not (\"storage\", storage type, key, location, element count)" },
        { "a storage key with a path", StateDictWith(p => Storage(p, key: "../../x")), "storage key \"../../x\" is not a file name" },
        { "a storage of TypedStorage", StateDictWith(p => Storage(p, "TypedStorage", module: "torch.storage")), "a torch.storage.TypedStorage, which names no element type" },
        { "a storage of OrderedDict type", StateDictWith(p => Storage(p, "OrderedDict", module: "collections")), "has type collections.OrderedDict, which is not a storage class" },
        { "one storage described twice", Start().Mark().Do(p => Storage(p)).Do(p => Storage(p, "DoubleStorage")).Tuple().Stop(), "storage \"0\" is described twice, differently" },
        { "a tensor past its storage", StateDictWith(p => Rebuild(p, 1, [3], [1])), "reaches past the storage's 3 elements" },
        { "a tensor strided past its storage", StateDictWith(p => Rebuild(p, 0, [2, 2], [2, 1])), "reaches past the storage's 3 elements" },
        { "a negative stride", StateDictWith(p => Rebuild(p, 2, [3], [-1])), "its strides are not a tuple of at most 64 integers >= 0" },
        { "sizes that overflow", StateDictWith(p => Rebuild(p, 0, [1L << 40, 1L << 40], [0, 0])), "its sizes and strides overflow" },
        { "sizes and strides of different ranks", StateDictWith(p => Rebuild(p, 0, [3], [1, 1])), "1 sizes but 2 strides" },
        { "an empty tensor far past its storage", StateDictWith(p => Rebuild(p, 100, [0], [1])), "reaches past the storage's 3 elements" },
        { "a huge string length", Start().Op('X').Raw(0xff, 0xff, 0xff, 0xff).Stop(), "a length of 4294967295 bytes runs past the end of the pickle" },
        { "a huge BINUNICODE8 length", Start().Op(0x8d).Raw(0, 0, 0, 0, 0, 0, 0, 0x80).Stop(), "a length of 9223372036854775808 bytes runs past the end" },
        { "a huge frame", new PickleWriter().Proto(4).Op(0x95).Raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f).Stop(), "runs past the pickle" },
        { "an integer beyond 64 bits", Start().Op(0x8a).Raw(9, 1, 2, 3, 4, 5, 6, 7, 8, 9).Stop(), "an integer of 9 bytes, beyond 64 bits" },
        { "a string that is not UTF-8", Start().Op(0x8c).Raw(2, 0xc3, 0x28).Stop(), "a string is not valid UTF-8" },
        { "a global name too long", Start().Global(new string('a', 300), "b").Stop(), "a global named with 300 characters" },
        { "a global name without its newline", Start().Op('c').Raw([.. Enumerable.Repeat((byte)'a', 600)]).Stop(), "a global's name does not end with a newline within 514 bytes" },
        { "a memo read before written", Start().Op('h').Raw(7).Stop(), "memo entry 7 is read before it is written" },
        { "REDUCE on an empty stack", Start().Reduce().Stop(), "a value is taken from an empty stack" },
        { "SETITEMS without a mark", Start().EmptyDict().SetItems().Stop(), "no MARK to return to" },
        { "no STOP", Start().EmptyDict(), "the pickle ends without STOP" },
        { "STOP with two values", Start().EmptyDict().EmptyDict().Stop(), "STOP with an unfinished stack" },
        { "a list, not a dict", Start().Op(']').Stop(), "the file holds a list, not a state dict (a dict of tensors)." },
        { "a storage, not a tensor", StateDictWith(p => Storage(p)), "the file holds a dict whose entry \"w\" is a storage, not a tensor: it is not a state dict." },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void RefusedPickle_ThrowsTheOneExceptionType_NamingWhatItRefused_AndRunsNothing(string description, PickleWriter pickle, string expected)
    {
        var e = Assert.Throws<PyTorchCheckpointException>(() => Read(pickle));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{description}: the message was '{e.Message}'");
        Assert.False(File.Exists(Marker));
    }

    [Fact]
    public void EveryAllowedGlobal_IsOnPyTorchsOwnAllowList_OrItsLaterAdditions()
    {
        // PyTorch 1.13's list (torch._weights_only_unpickler._get_allowed_globals()), plus what PyTorch 2.x added that a state
        // dict can hold: _rebuild_tensor_v3, _rebuild_parameter_with_state, torch.device and the dtypes it lacked.
        string[] addedLater = ["torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter_with_state", "torch.device", "torch.bfloat16", "torch.uint8", "torch.bool"];
        foreach (string global in PyTorchCheckpoint.AllowedGlobals)
        {
            bool storage = global.EndsWith("Storage", StringComparison.Ordinal) && (global.StartsWith("torch.", StringComparison.Ordinal));
            bool dtype = global is "torch.float16" or "torch.float32" or "torch.float64" or "torch.int8" or "torch.int16" or "torch.int32" or "torch.int64" or "torch.complex32" or "torch.complex64" or "torch.complex128";
            bool named = global is "collections.OrderedDict" or "torch._utils._rebuild_tensor" or "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_parameter" or "torch.nn.parameter.Parameter" or "torch.Size";
            Assert.True(storage || dtype || named || addedLater.Contains(global), global);
        }

        Assert.DoesNotContain("os.system", PyTorchCheckpoint.AllowedGlobals);
        Assert.DoesNotContain("builtins.eval", PyTorchCheckpoint.AllowedGlobals);
    }

    [Fact]
    public void Protocol4Opcodes_TheMemo_ParametersAndTorchSize_AreRead()
    {
        // FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL (protocol 4); a Parameter built by NEWOBJ and stored twice through
        // the memo; a tensor whose sizes come through torch.Size.
        static PickleWriter Short(PickleWriter p, string s) => p.Op(0x8c).Raw([(byte)s.Length, .. System.Text.Encoding.ASCII.GetBytes(s)]);
        var pickle = new PickleWriter().Proto(4).Op(0x95).Raw(0, 0, 0, 0, 0, 0, 0, 0).EmptyDict().Op(0x94);
        Short(pickle, "p").Op(0x94);
        Short(Short(pickle, "torch.nn.parameter"), "Parameter").Op(0x93)
            .Mark().Do(p => Rebuild(p, 1, [2], [1])).Bool(true).Tuple().Op(0x81).Op(0x94).SetItem();
        Short(pickle, "q").Op('h').Raw(2).SetItem();
        Short(pickle, "r").Global("torch._utils", "_rebuild_tensor_v2").Mark().Do(p => Storage(p)).Int(0)
            .Global("torch", "Size").Mark().Ints([3]).Tuple().Reduce().Ints([1]).Bool(false).EmptyDict().Tuple().Reduce().SetItem().Stop();
        StateDict state = Read(pickle).Tensors;
        Assert.Equal(["p", "q", "r"], state.Keys);
        Assert.Equal([2.0, 3.0], state["p"].ToDoubles());
        Assert.Equal([2.0, 3.0], state["q"].ToDoubles());
        Assert.Equal([1.0, 2.0, 3.0], state["r"].ToDoubles());
    }

    [Fact]
    public void EmptyOrderedDictFromAnEmptyTuple_AsTorchSharpPyBridgePicklesIt_IsRead()
    {
        var pickle = Start().Global("collections", "OrderedDict").Mark().EmptyTuple().Tuple().Reduce().Str("w").Do(p => Rebuild(p, 0, [3], [1])).SetItem().Stop();
        Assert.Equal([1.0, 2.0, 3.0], Read(pickle).Tensors["w"].ToDoubles());
    }

    [Fact]
    public void MemoizedMetadata_ReusedByEveryModule_CostsConstantTimePerModule()
    {
        // One local-metadata dict of 100,000 keys, named by 100,000 modules through the memo: a scan of its keys per module
        // would take minutes.
        var pickle = Start().Global("collections", "OrderedDict").EmptyTuple().Reduce().EmptyDict().Str("_metadata").EmptyDict().Op('q').Raw(1).Mark();
        for (int i = 0; i < 100_000; i++) pickle.Str($"k{i}").Int(1);
        pickle.Str("version").Int(1).SetItems().Op('0').Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        for (int i = 0; i < 100_000; i++) pickle.Str($"m{i}").Op('h').Raw(1);
        pickle.SetItems().SetItem().Op('b').Stop();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        StateDict state = Read(pickle).Tensors;
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{watch.Elapsed}");
        Assert.Equal(100_000, state.ModuleVersions!.Count);
        Assert.Equal(1, state.VersionOf("m99999"));
    }

    [Fact]
    public void RepeatedMemoizedKeys_CostConstantTimeEach()
    {
        // One 1 MB key, set 200,000 times through the memo: hashing it each time would take minutes.
        var pickle = Start().EmptyDict().Str(new string('k', 1 << 20)).Op('q').Raw(0).Op('0');
        for (int i = 0; i < 200_000; i++) pickle.Op('h').Raw(0).Op(0x88).SetItem();
        pickle.Stop();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<PyTorchCheckpointException>(() => Read(pickle));
        Assert.Contains("is a bool, not a tensor", e.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{watch.Elapsed}");
    }
}

public static class PickleWriterExtensions
{
    public static PickleWriter Do(this PickleWriter pickle, Action<PickleWriter> write)
    {
        write(pickle);
        return pickle;
    }
}
