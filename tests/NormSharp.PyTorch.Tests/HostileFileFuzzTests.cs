using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using CsCheck;
using NormSharp.PyTorch.Tests.Support;

namespace NormSharp.PyTorch.Tests;

/// <summary>
/// Mutated checkpoints must never crash, hang or exhaust the reader: real PyTorch files and generated ones (stored and
/// deflated) mutated byte by byte, their pickles mutated and re-archived with fresh CRCs (so the mutations reach the
/// unpickler), and every one-bit flip of a real file. Only <see cref="PyTorchCheckpointException"/> may escape.
/// </summary>
public class HostileFileFuzzTests(ITestOutputHelper output)
{
    /// <summary>Archives mutated byte by byte per run.</summary>
    public const int ArchiveFuzzCases = 6000;

    /// <summary>Pickles mutated and re-archived per run.</summary>
    public const int PickleFuzzCases = 5000;

    /// <summary>No case may take longer (a hang fails the test instead of stalling it).</summary>
    private static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(5), RunLimit = TimeSpan.FromMinutes(4);

    /// <summary>A torch.save archive's records: the pickle and the storages by key.</summary>
    private sealed record Parts(string Archive, byte[] Pickle, List<(string Key, byte[] Data)> Storages, bool Deflate)
    {
        public byte[] Build(byte[] pickle) => TorchArchive.Create(pickle, Storages, Archive, Deflate);
    }

    private static Parts Split(byte[] file, bool deflate)
    {
        using var zip = new ZipArchive(new MemoryStream(file), ZipArchiveMode.Read);
        string archive = zip.Entries.First(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)).FullName[..^9];
        byte[] Read(ZipArchiveEntry entry)
        {
            using var stream = new MemoryStream();
            using (Stream source = entry.Open()) source.CopyTo(stream);
            return stream.ToArray();
        }

        var storages = zip.Entries.Where(e => e.FullName.StartsWith($"{archive}/data/", StringComparison.Ordinal))
                          .Select(e => (e.FullName[(archive.Length + 6)..], Read(e))).ToList();
        return new Parts(archive, Read(zip.GetEntry($"{archive}/data.pkl")!), storages, deflate);
    }

    /// <summary>A generated state dict: views at offsets, transposed and broadcast strides, every loaded dtype.</summary>
    private static byte[] Generated(bool deflate)
    {
        byte[] pickle = PickleWriter.StateDict(
        [
            ("bn.weight", TensorSpec.Whole("FloatStorage", "0", 4)),
            ("bn.running_mean", new TensorSpec("FloatStorage", "0", 4, 1, [3], [1])),
            ("bn.running_var", TensorSpec.Whole("HalfStorage", "1", 4)),
            ("bn.bias", TensorSpec.Whole("BFloat16Storage", "2", 4)),
            ("bn.num_batches_tracked", TensorSpec.Whole("LongStorage", "3")),
            ("t", new TensorSpec("DoubleStorage", "4", 6, 0, [3, 2], [1, 3])),
            ("b", new TensorSpec("DoubleStorage", "4", 6, 2, [4, 2], [0, 1])),
            ("i", TensorSpec.Whole("IntStorage", "5", 2)),
        ], new Dictionary<string, int?> { [""] = 1, ["bn"] = 2 });
        return TorchArchive.Create(pickle,
        [
            ("0", TorchArchive.Bytes(1f, 2f, 3f, 4f)), ("1", TorchArchive.Bytes((Half)1, (Half)2, (Half)3, (Half)4)),
            ("2", TorchArchive.Bytes<ushort>(0x3f80, 0x4000, 0, 0x8000)), ("3", TorchArchive.Bytes(9L)),
            ("4", TorchArchive.Bytes(1.0, 2, 3, 4, 5, 6)), ("5", TorchArchive.Bytes(7, 8)),
        ], deflate: deflate);
    }

    private static readonly Lazy<(byte[] File, Parts Parts)[]> Bases = new(() =>
    [
        .. new[] { "views.pt", "resnet_float16.pt", "old_versions.pt", "malicious_eval.pt", "resnet_protocol4.pt" }
            .Select(name => (Fixtures.Bytes(name), Split(Fixtures.Bytes(name), deflate: false))),
        .. new[] { false, true }.Select(deflate => (Generated(deflate), Split(Generated(deflate), deflate))),
    ]);

    private enum ByteMutation { FlipBit, SetByte, Truncate, Extend, DeleteRange, InsertBytes, ExtremeWord, ZipRecordField }

    private enum PickleMutation { FlipBit, SetByte, Truncate, DeleteRange, InsertSnippet, ExtremeArgument }

    /// <summary>Opcode sequences spliced into pickles: forbidden globals, calls, memo reads, marks, huge lengths.</summary>
    private static readonly byte[][] Snippets =
    [
        .. new[] { "os\nsystem\n", "builtins\neval\n", "posix\nsystem\n", "subprocess\nPopen\n", "torch\nload\n", "collections\nOrderedDict\n",
                   "torch._utils\n_rebuild_tensor_v2\n", "torch\nFloatStorage\n", "torch\nSize\n", "torch.nn.parameter\nParameter\n" }
            .Select(g => (byte[])[(byte)'c', .. Encoding.ASCII.GetBytes(g)]),
        "R"u8.ToArray(), "b"u8.ToArray(), "Q"u8.ToArray(), "("u8.ToArray(), "t"u8.ToArray(), "u"u8.ToArray(), "s"u8.ToArray(),
        "a"u8.ToArray(), "0"u8.ToArray(), "1"u8.ToArray(), "}"u8.ToArray(), "]"u8.ToArray(), ")"u8.ToArray(), "N"u8.ToArray(),
        [(byte)'h', 0], [(byte)'h', 200], [(byte)'q', 0], [(byte)'j', 0xff, 0xff, 0xff, 0x7f], [0x81], [0x93], [0x94], [0x85], [0x86], [0x87],
        [(byte)'X', 0xff, 0xff, 0xff, 0x0f], [0x8a, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9], [(byte)'J', 0xff, 0xff, 0xff, 0x7f], [(byte)'K', 0],
        [0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x40], [(byte)'i', (byte)'o', (byte)'s', 10, (byte)'s', 10], [0x95, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
    ];

    private sealed record ByteCase(int Base, ByteMutation[] Mutations, int[] Positions, int[] Values)
    {
        public byte[] Apply()
        {
            var bytes = Bases.Value[Base].File.ToList();
            for (int i = 0; i < Mutations.Length; i++) Mutate(bytes, Mutations[i], Positions[i], Values[i]);
            return [.. bytes];
        }

        private static void Mutate(List<byte> bytes, ByteMutation mutation, int position, int value)
        {
            int at = position % Math.Max(1, bytes.Count);
            switch (mutation)
            {
                case ByteMutation.FlipBit: if (bytes.Count > 0) bytes[at] ^= (byte)(1 << (value & 7)); break;
                case ByteMutation.SetByte: if (bytes.Count > 0) bytes[at] = (byte)value; break;
                case ByteMutation.Truncate: bytes.RemoveRange(at, bytes.Count - at); break;
                case ByteMutation.Extend: bytes.AddRange(Enumerable.Repeat((byte)value, value % 64)); break;
                case ByteMutation.DeleteRange: bytes.RemoveRange(at, Math.Min(1 + value % 32, bytes.Count - at)); break;
                case ByteMutation.InsertBytes: bytes.InsertRange(at, Enumerable.Repeat((byte)value, 1 + value % 8)); break;
                case ByteMutation.ExtremeWord: Overwrite(bytes, at, value); break;
                default:
                    // A field of a zip record: the value at a random offset after a random "PK" signature.
                    var signatures = Enumerable.Range(0, Math.Max(0, bytes.Count - 1)).Where(i => bytes[i] == 'P' && bytes[i + 1] == 'K').ToList();
                    if (signatures.Count > 0) Overwrite(bytes, signatures[position % signatures.Count] + 4 + value % 44, value);
                    break;
            }
        }
    }

    private static readonly ulong[] Extremes = [0, 1, 0xff, 0xffff, 0xffff_ffff, 0x7fff_ffff, 0x8000_0000, ulong.MaxValue, long.MaxValue, 1UL << 40, 100_001];

    private static void Overwrite(List<byte> bytes, int at, int value)
    {
        ulong extreme = Extremes[value % Extremes.Length];
        int width = (value / Extremes.Length % 3) switch { 0 => 2, 1 => 4, _ => 8 };
        for (int i = 0; i < width && at + i < bytes.Count; i++) bytes[at + i] = (byte)(extreme >> (8 * i));
    }

    private sealed record PickleCase(int Base, PickleMutation[] Mutations, int[] Positions, int[] Values)
    {
        public byte[] Apply()
        {
            Parts parts = Bases.Value[Base].Parts;
            var pickle = parts.Pickle.ToList();
            for (int i = 0; i < Mutations.Length; i++)
            {
                int at = Positions[i] % Math.Max(1, pickle.Count), value = Values[i];
                switch (Mutations[i])
                {
                    case PickleMutation.FlipBit: if (pickle.Count > 0) pickle[at] ^= (byte)(1 << (value & 7)); break;
                    case PickleMutation.SetByte: if (pickle.Count > 0) pickle[at] = (byte)value; break;
                    case PickleMutation.Truncate: pickle.RemoveRange(at, pickle.Count - at); break;
                    case PickleMutation.DeleteRange: pickle.RemoveRange(at, Math.Min(1 + value % 16, pickle.Count - at)); break;
                    case PickleMutation.InsertSnippet: pickle.InsertRange(at, Snippets[value % Snippets.Length]); break;
                    default:
                        // The argument of the next integer opcode (BININT1, BININT, LONG1) becomes an extreme value.
                        int opcode = pickle.FindIndex(at, b => b is (byte)'K' or (byte)'J' or 0x8a);
                        if (opcode >= 0) Overwrite(pickle, opcode + 1 + (pickle[opcode] == 0x8a ? 1 : 0), value);
                        break;
                }
            }

            return parts.Build([.. pickle]);
        }
    }

    private static readonly Gen<ByteCase> ByteCases =
        from b in Gen.Int[0, 6]
        from count in Gen.Int[1, 3]
        from mutations in Gen.Enum<ByteMutation>().Array[count]
        from positions in Gen.Int[0, int.MaxValue].Array[count]
        from values in Gen.Int[0, 255].Array[count]
        select new ByteCase(b, mutations, positions, values);

    private static readonly Gen<PickleCase> PickleCases =
        from b in Gen.Int[0, 6]
        from count in Gen.Int[1, 3]
        from mutations in Gen.Enum<PickleMutation>().Array[count]
        from positions in Gen.Int[0, int.MaxValue].Array[count]
        from values in Gen.Int[0, 1000].Array[count]
        select new PickleCase(b, mutations, positions, values);

    /// <summary>Counts of one run, and the worst case seen.</summary>
    private sealed class Tally
    {
        public int Accepted, Rejected;
        public long MostAllocatedPerByte;
        public TimeSpan Slowest;

        public override string ToString() =>
            $"{Accepted + Rejected} files: {Accepted} read, {Rejected} refused; slowest {Slowest.TotalMilliseconds:F1} ms; " +
            $"at most {MostAllocatedPerByte} bytes allocated per byte of file";
    }

    /// <summary>Reads <paramref name="file"/> and checks that it either reads or is refused with the one exception type, in
    /// time, with memory within the documented bounds (100x the file plus 64 MiB for storages, 4x those plus 64 MiB for
    /// tensors).</summary>
    private static void ReadChecked(byte[] file, Tally tally, object description)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        try
        {
            PyTorchCheckpointFile result = PyTorchCheckpoint.Read(new MemoryStream(file, writable: false));
            foreach (var (_, tensor) in result.Tensors) _ = tensor.ToDoubles();
            tally.Accepted++;
        }
        catch (PyTorchCheckpointException)
        {
            tally.Rejected++;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name} escaped for {description}: {e}");
        }

        watch.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long bound = 600L * file.Length + 6 * PyTorchCheckpoint.ExpansionAllowance;
        Assert.True(allocated <= bound, $"{allocated} bytes allocated for a {file.Length}-byte file ({description})");
        Assert.True(watch.Elapsed < CaseLimit, $"{watch.Elapsed} for {description}");
        tally.MostAllocatedPerByte = Math.Max(tally.MostAllocatedPerByte, allocated / Math.Max(1, file.Length));
        if (watch.Elapsed > tally.Slowest) tally.Slowest = watch.Elapsed;
    }

    private static void WithinRunLimit(Action run)
    {
        var task = Task.Run(run);
        Assert.True(task.Wait(RunLimit), $"the fuzz run did not finish within {RunLimit}: a read hangs");
        task.GetAwaiter().GetResult();
    }

    [Fact]
    public void MutatedArchives_OnlyTheOneExceptionTypeEscapes_InBoundedTimeAndMemory()
    {
        var tally = new Tally();
        WithinRunLimit(() => ByteCases.Sample(c => ReadChecked(c.Apply(), tally, c), iter: ArchiveFuzzCases, threads: 1));
        output.WriteLine($"archive mutations: {tally}");
        Assert.Equal(ArchiveFuzzCases, tally.Accepted + tally.Rejected);
        Assert.True(tally.Rejected > ArchiveFuzzCases / 2, tally.ToString());
        Assert.True(tally.Accepted > ArchiveFuzzCases / 100, $"{tally}: the mutations are too blunt");
    }

    [Fact]
    public void MutatedArchive_WhoseLocalHeaderLiesBeyondTheStream_IsRefusedAsACheckpointError()
    {
        // A case the fuzzer found: an entry's local-header offset inside the directory's claimed range but past the end
        // of the (in-memory) stream; the stream's own ArgumentOutOfRangeException escaped before the offset was checked.
        var tally = new Tally();
        ByteCases.Sample(c => ReadChecked(c.Apply(), tally, c), iter: 1, threads: 1, seed: "7nB8KKz3Bim1");
        Assert.Equal(1, tally.Rejected);
    }

    [Fact]
    public void MutatedPickles_ReArchived_OnlyTheOneExceptionTypeEscapes_InBoundedTimeAndMemory()
    {
        var tally = new Tally();
        WithinRunLimit(() => PickleCases.Sample(c => ReadChecked(c.Apply(), tally, c), iter: PickleFuzzCases, threads: 1));
        output.WriteLine($"pickle mutations: {tally}");
        Assert.Equal(PickleFuzzCases, tally.Accepted + tally.Rejected);
        Assert.True(tally.Rejected > PickleFuzzCases / 2, tally.ToString());
        Assert.True(tally.Accepted > PickleFuzzCases / 100, $"{tally}: the mutations are too blunt");
    }

    [Fact]
    public void EveryOneBitFlipOfARealFile_OnlyTheOneExceptionTypeEscapes()
    {
        byte[] valid = Fixtures.Bytes("views.pt");
        var tally = new Tally();
        WithinRunLimit(() =>
        {
            for (int bit = 0; bit < 8 * valid.Length; bit++)
            {
                byte[] file = (byte[])valid.Clone();
                file[bit / 8] ^= (byte)(1 << (bit % 8));
                ReadChecked(file, tally, $"views.pt with bit {bit} flipped");
            }
        });
        output.WriteLine($"one-bit flips of views.pt: {tally}");
        Assert.Equal(8 * valid.Length, tally.Accepted + tally.Rejected);
    }
}
