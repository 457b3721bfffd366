using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace NormSharp.PyTorch.Tests.Support;

/// <summary>One entry of a hand-laid zip file, with every field a hostile file might lie about open to change.</summary>
internal sealed record RawEntry(string Name, byte[] Data)
{
    public ushort Method { get; init; }

    public ushort Flags { get; init; }

    public long? DeclaredLength { get; init; }

    public long? DeclaredCompressedLength { get; init; }

    public uint? Crc { get; init; }

    /// <summary>Where the central directory says the local header is (default: where it was written).</summary>
    public long? DeclaredOffset { get; init; }

    public string? LocalName { get; init; }
}

/// <summary>Lays out zip files byte by byte (local headers, central directory, zip64 end records as PyTorch writes them,
/// end record), so that tests can make each field lie.</summary>
internal static class RawZip
{
    public static byte[] Create(IReadOnlyList<RawEntry> entries, bool zip64 = true, long? declaredCount = null, long? declaredDirectoryOffset = null, byte[]? prefix = null)
    {
        using var file = new MemoryStream();
        using var writer = new BinaryWriter(file);
        if (prefix is not null) writer.Write(prefix);
        var offsets = new List<long>();
        var stored = new List<byte[]>();
        foreach (RawEntry entry in entries)
        {
            byte[] data = entry.Method == 8 ? Deflate(entry.Data) : entry.Data;
            stored.Add(data);
            offsets.Add(file.Position);
            byte[] name = Encoding.UTF8.GetBytes(entry.LocalName ?? entry.Name);
            writer.Write(0x04034b50u);
            writer.Write((ushort)20);
            writer.Write(entry.Flags);
            writer.Write(entry.Method);
            writer.Write(0u);
            writer.Write(entry.Crc ?? Crc32.HashToUInt32(entry.Data));
            writer.Write((uint)data.Length);
            writer.Write((uint)entry.Data.Length);
            writer.Write((ushort)name.Length);
            writer.Write((ushort)0);
            writer.Write(name);
            writer.Write(data);
        }

        long directoryOffset = file.Position;
        for (int i = 0; i < entries.Count; i++)
        {
            RawEntry entry = entries[i];
            byte[] name = Encoding.UTF8.GetBytes(entry.Name);
            long length = entry.DeclaredLength ?? entry.Data.Length, compressed = entry.DeclaredCompressedLength ?? stored[i].Length;
            long offset = entry.DeclaredOffset ?? offsets[i];
            bool big = length >= uint.MaxValue || compressed >= uint.MaxValue || offset >= uint.MaxValue;
            writer.Write(0x02014b50u);
            writer.Write((ushort)0x031e);
            writer.Write((ushort)45);
            writer.Write((ushort)(entry.Flags | 0x800));
            writer.Write(entry.Method);
            writer.Write(0u);
            writer.Write(entry.Crc ?? Crc32.HashToUInt32(entry.Data));
            writer.Write(big ? uint.MaxValue : (uint)compressed);
            writer.Write(big ? uint.MaxValue : (uint)length);
            writer.Write((ushort)name.Length);
            writer.Write((ushort)(big ? 28 : 0));
            writer.Write((ushort)0);
            writer.Write((ushort)0);
            writer.Write((ushort)0);
            writer.Write(0u);
            writer.Write(big ? uint.MaxValue : (uint)offset);
            writer.Write(name);
            if (big)
            {
                writer.Write((ushort)1);
                writer.Write((ushort)24);
                writer.Write(length);
                writer.Write(compressed);
                writer.Write(offset);
            }
        }

        long directoryLength = file.Position - directoryOffset;
        long count = declaredCount ?? entries.Count;
        long cdOffset = declaredDirectoryOffset ?? directoryOffset;
        if (zip64)
        {
            long zip64End = file.Position;
            writer.Write(0x06064b50u);
            writer.Write(44L);
            writer.Write((ushort)0x031e);
            writer.Write((ushort)45);
            writer.Write(0u);
            writer.Write(0u);
            writer.Write(count);
            writer.Write(count);
            writer.Write(directoryLength);
            writer.Write(cdOffset);
            writer.Write(0x07064b50u);
            writer.Write(0u);
            writer.Write(zip64End);
            writer.Write(1u);
        }

        writer.Write(0x06054b50u);
        writer.Write((ushort)0);
        writer.Write((ushort)0);
        ushort shortCount = count >= ushort.MaxValue ? ushort.MaxValue : (ushort)count;
        writer.Write(shortCount);
        writer.Write(shortCount);
        writer.Write(directoryLength >= uint.MaxValue ? uint.MaxValue : (uint)directoryLength);
        writer.Write(cdOffset >= uint.MaxValue ? uint.MaxValue : (uint)cdOffset);
        writer.Write((ushort)0);
        writer.Flush();
        return file.ToArray();
    }

    /// <summary>A minimal valid torch.save archive: one float32 tensor "w" of <paramref name="values"/>.</summary>
    public static List<RawEntry> TorchEntries(float[]? values = null, string archive = "archive")
    {
        values ??= [1f, 2f, 3f];
        byte[] pickle = PickleWriter.StateDict([("w", TensorSpec.Whole("FloatStorage", "0", values.Length))]);
        return
        [
            new($"{archive}/data.pkl", pickle),
            new($"{archive}/data/0", TorchArchive.Bytes(values)),
            new($"{archive}/version", "3\n"u8.ToArray()),
        ];
    }

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true)) deflate.Write(data);
        return output.ToArray();
    }

    /// <summary>Reads <paramref name="file"/> from memory.</summary>
    public static PyTorchCheckpointFile Read(byte[] file) => PyTorchCheckpoint.Read(new MemoryStream(file, writable: false));

    public static void WriteUInt32(byte[] file, int at, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(at), value);
}
