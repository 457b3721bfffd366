using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace NormSharp.PyTorch.Archive;

/// <summary>
/// A zip archive read the hardened way: the end records, the central directory and every local header are read and
/// checked against each other and against the file's real length before any entry's data is touched.
/// </summary>
/// <remarks>
/// Refused: archives spanning disks, encrypted entries, compression other than stored and deflate, sizes or offsets
/// past the file, entries whose data overlap (the trick of overlapping zip bombs), names that are absolute, contain
/// <c>..</c>, a backslash or a control character, duplicate names, more than <see cref="PyTorchCheckpoint.MaxEntries"/>
/// entries, and archives that would expand to more than <see cref="PyTorchCheckpoint.MaxExpansionRatio"/> times their
/// size plus <see cref="PyTorchCheckpoint.ExpansionAllowance"/>. Entry data is read whole into the caller's buffer and
/// its CRC-32 checked. PyTorch writes zip64 end records and stores every entry uncompressed; deflated entries (written
/// by .NET's ZipArchive, which TorchSharp.PyBridge uses) are read as well.
/// </remarks>
internal sealed class ZipDirectory
{
    private const uint LocalHeaderSignature = 0x04034b50, CentralHeaderSignature = 0x02014b50, EndSignature = 0x06054b50,
                       Zip64EndSignature = 0x06064b50, Zip64LocatorSignature = 0x07064b50;

    private const int LocalHeaderLength = 30, CentralHeaderLength = 46, EndLength = 22, Zip64LocatorLength = 20,
                      Zip64EndLength = 56;

    /// <summary>The longest central directory read (a PyTorch archive's takes about 100 bytes a tensor).</summary>
    private const long MaxDirectoryLength = 64L << 20;

    private const ushort Stored = 0, Deflate = 8;
    private const ushort EncryptedFlags = 0x1 | 0x40 | 0x2000, Utf8NameFlag = 0x800;
    private const ushort Zip64ExtraId = 0x0001;

    private readonly Stream stream;
    private readonly Dictionary<string, ZipEntry> byName;

    private ZipDirectory(Stream stream, long fileLength, List<ZipEntry> entries)
    {
        this.stream = stream;
        FileLength = fileLength;
        Entries = entries;
        byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    /// <summary>The archive's length in bytes.</summary>
    public long FileLength { get; }

    /// <summary>The entries, in the central directory's order.</summary>
    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>The entry with this exact name, or null.</summary>
    public ZipEntry? Find(string name) => byName.GetValueOrDefault(name);

    /// <summary>Reads and checks the directory of the zip archive in <paramref name="stream"/> (seekable).</summary>
    public static ZipDirectory Read(Stream stream)
    {
        long fileLength = stream.Length;
        var (directoryOffset, directoryLength, entryCount) = ReadEndRecords(stream, fileLength);
        if (directoryLength < entryCount * CentralHeaderLength)
            throw Fail($"the central directory ({directoryLength} bytes) is too short for its {entryCount} entries");

        var directory = new byte[directoryLength];
        ReadAt(stream, directoryOffset, directory);
        var central = ParseCentralDirectory(directory, (int)entryCount);
        var entries = ResolveLocalHeaders(stream, central, directoryOffset);

        long expanded = 0;
        foreach (ZipEntry entry in entries) expanded = SaturatingAdd(expanded, entry.Length);
        long allowed = SaturatingAdd(SaturatingMultiply(fileLength, PyTorchCheckpoint.MaxExpansionRatio), PyTorchCheckpoint.ExpansionAllowance);
        if (expanded > allowed)
        {
            throw Fail($"the entries expand to {expanded:N0} bytes, more than {PyTorchCheckpoint.MaxExpansionRatio} times the archive's " +
                       $"{fileLength:N0} bytes plus {PyTorchCheckpoint.ExpansionAllowance / (1 << 20)} MiB: refused as a possible zip bomb " +
                       "(PyTorch stores its entries uncompressed)");
        }

        return new ZipDirectory(stream, fileLength, entries);
    }

    /// <summary>Reads the whole uncompressed data of <paramref name="entry"/> into <paramref name="destination"/> (exactly its
    /// length) and checks its CRC-32.</summary>
    public void ReadEntry(ZipEntry entry, Span<byte> destination)
    {
        if (destination.Length != entry.Length) throw new ArgumentException("the destination must have the entry's length.", nameof(destination));
        if (!entry.Deflated)
        {
            ReadAt(stream, entry.DataOffset, destination);
        }
        else
        {
            try
            {
                using var inflater = new DeflateStream(new WindowStream(stream, entry.DataOffset, entry.CompressedLength), CompressionMode.Decompress);
                inflater.ReadExactly(destination);
                Span<byte> probe = stackalloc byte[1];
                if (inflater.Read(probe) != 0) throw Fail($"entry {Quoting.Quote(entry.Name)} inflates to more than its declared {entry.Length:N0} bytes");
            }
            catch (EndOfStreamException)
            {
                throw Fail($"entry {Quoting.Quote(entry.Name)} inflates to fewer than its declared {entry.Length:N0} bytes");
            }
            catch (InvalidDataException e)
            {
                throw new PyTorchCheckpointException($"entry {Quoting.Quote(entry.Name)} is not valid deflate data: {e.Message}", e);
            }
        }

        uint crc = Crc32.HashToUInt32(destination);
        if (crc != entry.Crc32)
            throw Fail($"entry {Quoting.Quote(entry.Name)} is damaged: its CRC-32 is {crc:x8}, the directory says {entry.Crc32:x8}");
    }

    private static (long Offset, long Length, long Count) ReadEndRecords(Stream stream, long fileLength)
    {
        if (fileLength < EndLength) throw Fail("the file is too short to be a zip archive");
        int tailLength = (int)Math.Min(fileLength, EndLength + ushort.MaxValue);
        var tail = new byte[tailLength];
        ReadAt(stream, fileLength - tailLength, tail);
        int end = -1;
        for (int i = tailLength - EndLength; i >= 0; i--)
        {
            if (U32(tail, i) == EndSignature && i + EndLength + U16(tail, i + 20) == tailLength)
            {
                end = i;
                break;
            }
        }

        if (end < 0) throw Fail("no end-of-central-directory record: the file is not a zip archive, or it is truncated");
        long endOffset = fileLength - tailLength + end;
        ReadOnlySpan<byte> record = tail.AsSpan(end, EndLength);
        uint disk = U16(record, 4), directoryDisk = U16(record, 6), entriesHere = U16(record, 8), entries = U16(record, 10);
        long directoryLength = U32(record, 12), directoryOffset = U32(record, 16);
        if (disk != 0 || directoryDisk != 0 || entriesHere != entries) throw Fail("the archive spans several disks");

        long directoryEnd = endOffset;
        long count = entries;
        bool needsZip64 = entries == ushort.MaxValue || directoryLength == uint.MaxValue || directoryOffset == uint.MaxValue;
        if (endOffset >= Zip64LocatorLength && U32(ReadBytes(stream, endOffset - Zip64LocatorLength, 4), 0) == Zip64LocatorSignature)
        {
            byte[] locator = ReadBytes(stream, endOffset - Zip64LocatorLength, Zip64LocatorLength);
            long zip64EndOffset = Checked64(U64(locator, 8), "zip64 end record offset");
            if (U32(locator, 4) != 0 || U32(locator, 16) > 1) throw Fail("the archive spans several disks");
            if (zip64EndOffset > endOffset - Zip64LocatorLength - Zip64EndLength)
                throw Fail("the zip64 end record lies past the end of the file or overlaps the records after it");
            byte[] zip64 = ReadBytes(stream, zip64EndOffset, Zip64EndLength);
            if (U32(zip64, 0) != Zip64EndSignature) throw Fail("the zip64 end locator points to no zip64 end record");
            if (U32(zip64, 16) != 0 || U32(zip64, 20) != 0 || U64(zip64, 24) != U64(zip64, 32)) throw Fail("the archive spans several disks");
            long count64 = Checked64(U64(zip64, 32), "entry count");
            long length64 = Checked64(U64(zip64, 40), "central directory length");
            long offset64 = Checked64(U64(zip64, 48), "central directory offset");
            if ((entries != ushort.MaxValue && entries != count64) || (directoryLength != uint.MaxValue && directoryLength != length64) ||
                (directoryOffset != uint.MaxValue && directoryOffset != offset64))
                throw Fail("the zip64 end record and the end record disagree");
            (count, directoryLength, directoryOffset, directoryEnd) = (count64, length64, offset64, zip64EndOffset);
        }
        else if (needsZip64)
        {
            throw Fail("the end record needs zip64 values, but the archive has no zip64 end record");
        }

        if (directoryOffset > directoryEnd || directoryEnd - directoryOffset != directoryLength)
        {
            throw Fail($"the central directory ({directoryLength:N0} bytes at offset {directoryOffset:N0}) does not end where the end " +
                       $"records start ({directoryEnd:N0}) in a file of {fileLength:N0} bytes");
        }

        if (count > PyTorchCheckpoint.MaxEntries)
            throw Fail($"the archive claims {count:N0} entries, more than the {PyTorchCheckpoint.MaxEntries:N0} accepted");
        long longest = Math.Min(MaxDirectoryLength, count * (CentralHeaderLength + 3L * ushort.MaxValue));
        if (directoryLength > longest)
            throw Fail($"the central directory claims {directoryLength:N0} bytes for {count:N0} entries, more than the {longest:N0} accepted");
        return (directoryOffset, directoryLength, count);
    }

    private sealed record CentralEntry(string Name, byte[] NameBytes, bool Deflated, uint Crc32, long CompressedLength, long Length, long LocalOffset);

    private static List<CentralEntry> ParseCentralDirectory(byte[] directory, int count)
    {
        var entries = new List<CentralEntry>(count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        int position = 0;
        for (int i = 0; i < count; i++)
        {
            if (directory.Length - position < CentralHeaderLength || U32(directory, position) != CentralHeaderSignature)
                throw Fail($"central directory record {i} is missing or damaged");
            ReadOnlySpan<byte> header = directory.AsSpan(position, CentralHeaderLength);
            ushort flags = U16(header, 8), method = U16(header, 10);
            uint crc = U32(header, 16);
            long compressed = U32(header, 20), length = U32(header, 24), localOffset = U32(header, 42);
            int nameLength = U16(header, 28), extraLength = U16(header, 30), commentLength = U16(header, 32);
            uint diskStart = U16(header, 34);
            int recordLength = CentralHeaderLength + nameLength + extraLength + commentLength;
            if (directory.Length - position < recordLength) throw Fail($"central directory record {i} runs past the directory");
            byte[] nameBytes = directory.AsSpan(position + CentralHeaderLength, nameLength).ToArray();
            string name = DecodeName(nameBytes, (flags & Utf8NameFlag) != 0, i);
            ReadOnlySpan<byte> extra = directory.AsSpan(position + CentralHeaderLength + nameLength, extraLength);
            position += recordLength;

            if ((flags & EncryptedFlags) != 0) throw Fail($"entry {Quoting.Quote(name)} is encrypted");
            if (method is not (Stored or Deflate)) throw Fail($"entry {Quoting.Quote(name)} uses compression method {method}; only stored and deflate are read");
            ApplyZip64Extra(extra, name, ref length, ref compressed, ref localOffset, ref diskStart);
            if (diskStart != 0) throw Fail("the archive spans several disks");
            if (method == Stored && compressed != length)
                throw Fail($"entry {Quoting.Quote(name)} is stored but claims {compressed:N0} bytes in the file and {length:N0} uncompressed");
            CheckName(name);
            if (!names.Add(name)) throw Fail($"entry {Quoting.Quote(name)} appears twice");
            entries.Add(new CentralEntry(name, nameBytes, method == Deflate, crc, compressed, length, localOffset));
        }

        if (position != directory.Length) throw Fail("the central directory has bytes after its last record");
        return entries;
    }

    private static List<ZipEntry> ResolveLocalHeaders(Stream stream, List<CentralEntry> central, long directoryOffset)
    {
        var byOffset = central.OrderBy(e => e.LocalOffset).ToList();
        var data = new Dictionary<CentralEntry, long>();
        var header = new byte[LocalHeaderLength];
        for (int i = 0; i < byOffset.Count; i++)
        {
            CentralEntry entry = byOffset[i];
            long limit = i + 1 < byOffset.Count ? byOffset[i + 1].LocalOffset : directoryOffset;
            if (entry.LocalOffset < 0 || entry.LocalOffset > limit - LocalHeaderLength)
                throw Fail($"entry {Quoting.Quote(entry.Name)} has no room for its local header");
            ReadAt(stream, entry.LocalOffset, header);
            if (U32(header, 0) != LocalHeaderSignature) throw Fail($"entry {Quoting.Quote(entry.Name)} has no local header where the directory says");
            ushort flags = U16(header, 6), method = U16(header, 8);
            int nameLength = U16(header, 26), extraLength = U16(header, 28);
            if ((flags & EncryptedFlags) != 0) throw Fail($"entry {Quoting.Quote(entry.Name)} is encrypted");
            if (method != (entry.Deflated ? Deflate : Stored)) throw Fail($"entry {Quoting.Quote(entry.Name)}: its local header and the directory disagree on compression");
            long dataOffset = entry.LocalOffset + LocalHeaderLength + nameLength + extraLength;
            if (dataOffset > limit || limit - dataOffset < entry.CompressedLength)
                throw Fail($"entry {Quoting.Quote(entry.Name)} ({entry.CompressedLength:N0} bytes at offset {dataOffset:N0}) overlaps the next entry or the directory, or runs past the file");
            if (!ReadBytes(stream, entry.LocalOffset + LocalHeaderLength, nameLength).AsSpan().SequenceEqual(entry.NameBytes))
                throw Fail($"entry {Quoting.Quote(entry.Name)}: its local header names another file");
            data[entry] = dataOffset;
        }

        return central.Select(e => new ZipEntry(e.Name, e.Deflated, e.Crc32, e.CompressedLength, e.Length, data[e])).ToList();
    }

    private static void ApplyZip64Extra(ReadOnlySpan<byte> extra, string name, ref long length, ref long compressed, ref long localOffset, ref uint diskStart)
    {
        bool needLength = length == uint.MaxValue, needCompressed = compressed == uint.MaxValue,
             needOffset = localOffset == uint.MaxValue, needDisk = diskStart == ushort.MaxValue;
        if (!(needLength || needCompressed || needOffset || needDisk)) return;
        while (extra.Length >= 4)
        {
            int id = U16(extra, 0), size = U16(extra, 2);
            if (extra.Length - 4 < size) break;
            if (id == Zip64ExtraId)
            {
                ReadOnlySpan<byte> field = extra.Slice(4, size);
                int at = 0;
                if (needLength) length = Take64(field, ref at, name);
                if (needCompressed) compressed = Take64(field, ref at, name);
                if (needOffset) localOffset = Take64(field, ref at, name);
                if (needDisk)
                {
                    if (field.Length - at < 4) throw Fail($"entry {Quoting.Quote(name)}: its zip64 field is too short");
                    diskStart = U32(field, at);
                }

                return;
            }

            extra = extra[(4 + size)..];
        }

        throw Fail($"entry {Quoting.Quote(name)} needs zip64 sizes but has no zip64 field");
    }

    private static long Take64(ReadOnlySpan<byte> field, ref int at, string name)
    {
        if (field.Length - at < 8) throw Fail($"entry {Quoting.Quote(name)}: its zip64 field is too short");
        ulong value = U64(field, at);
        at += 8;
        return Checked64(value, $"size or offset of entry {Quoting.Quote(name)}");
    }

    private static string DecodeName(byte[] bytes, bool utf8, int index)
    {
        if (utf8)
        {
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw Fail($"the name of entry {index} is flagged UTF-8 but is not");
            }
        }

        if (bytes.Any(b => b >= 0x80)) throw Fail($"the name of entry {index} is neither ASCII nor flagged UTF-8");
        return Encoding.ASCII.GetString(bytes);
    }

    private static void CheckName(string name)
    {
        string? problem = name.Length == 0 ? "is empty"
            : name.Any(char.IsControl) ? "contains a control character"
            : name.Contains('\\', StringComparison.Ordinal) ? "contains a backslash"
            : name[0] == '/' || (name.Length >= 2 && name[1] == ':') ? "is an absolute path"
            : name.Split('/').Any(part => part == "..") ? "contains \"..\""
            : null;
        if (problem is not null) throw Fail($"entry name {Quoting.Quote(name)} {problem}");
    }

    private static void ReadAt(Stream stream, long offset, Span<byte> buffer)
    {
        // Offsets come from the file: one outside it is the file's fault, never the stream's exception.
        if (offset < 0 || offset > stream.Length - buffer.Length)
            throw Fail($"the archive points at {buffer.Length:N0} bytes at offset {offset:N0}, outside its {stream.Length:N0} bytes");
        stream.Position = offset;
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw Fail("the file ended early: it changed while being read");
        }
    }

    private static byte[] ReadBytes(Stream stream, long offset, int count)
    {
        var bytes = new byte[count];
        ReadAt(stream, offset, bytes);
        return bytes;
    }

    private static long Checked64(ulong value, string what) =>
        value <= long.MaxValue ? (long)value : throw Fail($"the {what} ({value}) is out of range");

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private static long SaturatingMultiply(long a, long b) => a > long.MaxValue / b ? long.MaxValue : a * b;

    private static ushort U16(ReadOnlySpan<byte> bytes, int at) => BinaryPrimitives.ReadUInt16LittleEndian(bytes[at..]);

    private static uint U32(ReadOnlySpan<byte> bytes, int at) => BinaryPrimitives.ReadUInt32LittleEndian(bytes[at..]);

    private static ulong U64(ReadOnlySpan<byte> bytes, int at) => BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]);

    private static PyTorchCheckpointException Fail(string message) => new(message + ".");

    /// <summary>A read-only window on part of a seekable stream: what the deflate decoder sees of one entry.</summary>
    private sealed class WindowStream(Stream inner, long start, long length) : Stream
    {
        private long position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int count = (int)Math.Min(buffer.Length, length - position);
            if (count <= 0) return 0;
            inner.Position = start + position;
            int read = inner.Read(buffer[..count]);
            position += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
