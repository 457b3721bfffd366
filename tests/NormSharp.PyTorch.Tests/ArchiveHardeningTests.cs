using System.IO.Compression;
using NormSharp.PyTorch.Tests.Support;

namespace NormSharp.PyTorch.Tests;

/// <summary>Zip archives that lie about themselves are refused before their data is read, with one exception type.</summary>
public class ArchiveHardeningTests
{
    private static List<RawEntry> Valid() => RawZip.TorchEntries();

    private static List<RawEntry> With(Func<RawEntry, RawEntry> change, int index = 1)
    {
        List<RawEntry> entries = Valid();
        entries[index] = change(entries[index]);
        return entries;
    }

    public static TheoryData<string, byte[], string> HostileArchives() => new()
    {
        { "a name with ..", RawZip.Create([.. Valid(), new("archive/../../etc/cron.d/x", [1])]), "entry name \"archive/../../etc/cron.d/x\" contains \"..\"" },
        { "an absolute path", RawZip.Create([.. Valid(), new("/etc/passwd", [1])]), "entry name \"/etc/passwd\" is an absolute path" },
        { "a drive letter", RawZip.Create([.. Valid(), new("C:/x", [1])]), "is an absolute path" },
        { "a backslash", RawZip.Create([.. Valid(), new("archive\\data\\1", [1])]), "contains a backslash" },
        { "a control character", RawZip.Create([.. Valid(), new("archive/\u001b[2J", [1])]), "contains a control character" },
        { "a name twice", RawZip.Create([.. Valid(), new("archive/data/0", [1])]), "entry \"archive/data/0\" appears twice" },
        { "too many entries", RawZip.Create(Valid(), declaredCount: 200_000), "the archive claims 200,000 entries, more than the 100,000 accepted" },
        { "a directory offset past the file", RawZip.Create(Valid(), declaredDirectoryOffset: 1L << 40), "does not end where the end records start" },
        { "a stored entry whose sizes differ", RawZip.Create(With(e => e with { DeclaredLength = 16 })), "is stored but claims 12 bytes in the file and 16 uncompressed" },
        { "a size past the file", RawZip.Create(With(e => e with { DeclaredLength = 1L << 40, DeclaredCompressedLength = 1L << 40 })), "overlaps the next entry or the directory, or runs past the file" },
        { "overlapping entries", RawZip.Create(With(e => e with { DeclaredLength = 10_000, DeclaredCompressedLength = 10_000 }, index: 0)), "overlaps the next entry" },
        { "two entries on one header", RawZip.Create(With(e => e with { DeclaredOffset = 0 })), "has no room for its local header" },
        { "a header naming another file", RawZip.Create(With(e => e with { LocalName = "archive/data/9" })), "its local header names another file" },
        { "an encrypted entry", RawZip.Create(With(e => e with { Flags = 1 })), "entry \"archive/data/0\" is encrypted" },
        { "bzip2", RawZip.Create(With(e => e with { Method = 12 })), "uses compression method 12; only stored and deflate are read" },
        { "a bad CRC", RawZip.Create(With(e => e with { Crc = 0xdeadbeef })), "entry \"archive/data/0\" is damaged: its CRC-32 is" },
        { "a claimed zip bomb", RawZip.Create(With(e => e with { Method = 8, DeclaredLength = 1L << 40 })), "refused as a possible zip bomb" },
        { "a deflated entry shorter than declared", RawZip.Create(With(e => e with { Method = 8, DeclaredLength = 16 }, index: 2)), "entry \"archive/version\" inflates to fewer than its declared 16 bytes" },
        { "a deflated entry longer than declared", RawZip.Create(With(e => e with { Method = 8, DeclaredLength = 1 }, index: 2)), "entry \"archive/version\" inflates to more than its declared 1 bytes" },
        { "no zip64 record for zip64 values", RawZip.Create(Valid(), zip64: false, declaredCount: 70_000), "needs zip64 values" },
        { "data before the archive", RawZip.Create(Valid(), prefix: new byte[64]), "does not start as a zip archive" },
        { "no data.pkl", RawZip.Create([new("archive/version", "3\n"u8.ToArray())]), "this zip archive has no ARCHIVE/data.pkl: it is not a torch.save file." },
        { "two data.pkl", RawZip.Create([.. Valid(), new("other/data.pkl", [0x80, 2, (byte)'}', (byte)'.'])]), "this zip archive has 2 data.pkl records" },
        { "no version", RawZip.Create(Valid().Where(e => !e.Name.EndsWith("version", StringComparison.Ordinal)).ToList()), "has no archive/version record" },
        { "a version not a number", RawZip.Create(With(e => e with { Data = "three"u8.ToArray() }, index: 2)), "format version is not a positive integer" },
        { "a byte order of neither kind", RawZip.Create([.. Valid(), new("archive/byteorder", "middle"u8.ToArray())]), "neither \"little\" nor \"big\"" },
        { "a storage missing", RawZip.Create(Valid().Where(e => e.Name != "archive/data/0").ToList()), "storage \"0\" has no entry archive/data/0 in the archive" },
        { "a storage shorter than claimed", RawZip.Create(With(e => e with { Data = new byte[8] })), "storage \"0\" claims 12 bytes (float32), its entry archive/data/0 holds 8" },
        { "an empty file", [], "the file is empty." },
        { "text", "not a checkpoint at all\n"u8.ToArray(), "this is not a torch.save file" },
        { "a bare pickle", [0x80, 2, (byte)'}', (byte)'.'], "this is a bare Python pickle, not a torch.save file" },
        { "a truncated archive", RawZip.Create(Valid())[..150], "no end-of-central-directory record" },
    };

    [Theory]
    [MemberData(nameof(HostileArchives))]
    public void HostileArchive_IsRefusedWithTheOneExceptionType_NamingTheProblem(string description, byte[] file, string expected)
    {
        var e = Assert.Throws<PyTorchCheckpointException>(() => RawZip.Read(file));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{description}: the message was '{e.Message}'");
    }

    [Fact]
    public void HandLaidArchive_AsPyTorchLaysItOut_Reads()
    {
        Assert.Equal([1.0, 2.0, 3.0], RawZip.Read(RawZip.Create(Valid())).Tensors["w"].ToDoubles());
        Assert.Equal([1.0, 2.0, 3.0], RawZip.Read(RawZip.Create(Valid(), zip64: false)).Tensors["w"].ToDoubles());
        Assert.Equal([1.0, 2.0, 3.0], RawZip.Read(RawZip.Create(With(e => e with { Method = 8 }))).Tensors["w"].ToDoubles());
        List<RawEntry> sized64 = With(e => e with { DeclaredOffset = null });
        Assert.Equal([1.0, 2.0, 3.0], RawZip.Read(RawZip.Create(sized64)).Tensors["w"].ToDoubles());
    }

    [Fact]
    public void RealZipBomb_OfZerosDeflated_IsRefusedBeforeItIsInflated()
    {
        // 128 MiB of zeros deflate to about 128 KiB: 1000 times smaller, past the 100x + 64 MiB allowed.
        byte[] pickle = PickleWriter.StateDict([("w", TensorSpec.Whole("FloatStorage", "0", 32L << 20))]);
        using var memory = new MemoryStream();
        TorchArchive.Write(memory, pickle, [("0", s => { var zeros = new byte[1 << 20]; for (int i = 0; i < 128; i++) s.Write(zeros); })], deflate: true);
        Assert.True(memory.Length < 1 << 20, $"{memory.Length} bytes");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Read(new MemoryStream(memory.ToArray())));
        Assert.Contains("refused as a possible zip bomb (PyTorch stores its entries uncompressed)", e.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 8 << 20, "the bomb was inflated");
    }

    [Fact]
    public void SmallDeflatedFilesOfZeros_AsTorchSharpPyBridgeWritesThem_StillRead()
    {
        // A fresh layer's zeros compress about 1000 times; the 64 MiB allowance keeps such files readable.
        byte[] pickle = PickleWriter.StateDict([("bn.running_mean", TensorSpec.Whole("FloatStorage", "0", 1 << 20))]);
        byte[] file = TorchArchive.Create(pickle, [("0", new byte[4 << 20])], deflate: true);
        Assert.True(file.Length < 64 << 10);
        Assert.Equal(1 << 20, RawZip.Read(file).Tensors["bn.running_mean"].Count);
    }

    [Fact]
    public void BigEndianArchive_IsReadWithItsBytesSwapped()
    {
        byte[] pickle = PickleWriter.StateDict([("w", TensorSpec.Whole("DoubleStorage", "0", 2)), ("n", TensorSpec.Whole("LongStorage", "1"))]);
        byte[] doubles = TorchArchive.Bytes(1.5, -2.25), counter = TorchArchive.Bytes(7L);
        Array.Reverse(doubles, 0, 8);
        Array.Reverse(doubles, 8, 8);
        Array.Reverse(counter);
        StateDict state = RawZip.Read(TorchArchive.Create(pickle, [("0", doubles), ("1", counter)], byteOrder: "big")).Tensors;
        Assert.Equal([1.5, -2.25], state["w"].ToDoubles());
        Assert.Equal([7L], state["n"].ToInt64s());
    }

    [Fact]
    public void ArchiveNamedAfterTheFile_IsFoundByItsDataPkl()
    {
        List<RawEntry> entries = RawZip.TorchEntries(archive: "my_model");
        Assert.Equal([1.0, 2.0, 3.0], RawZip.Read(RawZip.Create(entries)).Tensors["w"].ToDoubles());
    }

    [Fact]
    public void NonSeekableStream_IsAnArgumentError()
    {
        using var pipe = new GZipStream(new MemoryStream(), CompressionMode.Decompress);
        Assert.Throws<ArgumentException>(() => PyTorchCheckpoint.Read(pipe));
    }

    [Fact]
    public void MissingFile_IsTheOneExceptionType_WithTheIOErrorInside()
    {
        var e = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile("/nonexistent/model.pt"));
        Assert.IsAssignableFrom<IOException>(e.InnerException);
        Assert.StartsWith("the file cannot be read: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DirectoryAndDevice_AreRefusedBeforeOpening()
    {
        Assert.Equal("the path is a directory, not a file.", Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile(Path.GetTempPath())).Message);
        if (OperatingSystem.IsLinux())
            Assert.Equal("the path is a character device, not a regular file.", Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.ReadFile("/dev/zero")).Message);
    }
}
