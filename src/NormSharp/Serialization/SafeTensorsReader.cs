using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;

namespace NormSharp.Serialization;

/// <summary>
/// Reads the safetensors format defensively: every field of the header is checked against the file before any tensor is
/// decoded, and every problem is a <see cref="SafeTensorsException"/> naming it.
/// </summary>
/// <remarks>
/// Checks, in order: at least 8 bytes; the header length within <see cref="SafeTensors.MaxHeaderLength"/> and within the
/// file; the header valid UTF-8, valid JSON, an object nested at most 3 deep, its strings valid Unicode (no unpaired
/// surrogate escapes), without duplicate names; each entry an object with
/// exactly <c>dtype</c> (a dtype the format defines), <c>shape</c> (non-negative integers whose product does not overflow)
/// and <c>data_offsets</c> (two integers, begin &lt;= end &lt;= the data's length) whose span is the shape's byte size;
/// <c>__metadata__</c> an object of strings; the tensors covering the data buffer exactly, without overlap or gap. Memory
/// used is bounded by a small multiple of the file's size (the header's parse tree, then the decoded tensors: at most
/// twice their bytes, for F16/BF16 held as float). A stream is read step by step, each step bounded by what the checks
/// before it allowed, so no allocation exceeds what the header claims or the bytes that actually arrive.
/// </remarks>
internal static class SafeTensorsReader
{
    private const string MetadataKey = "__metadata__";
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 3, CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false };

    /// <summary>Buffers of streams whose length is unknown start at this size and double as bytes arrive.</summary>
    private const int FirstChunk = 1 << 16;

    private sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    private sealed record Header(List<Entry> Entries, Dictionary<string, string> Metadata);

    public static SafeTensorsFile Read(ReadOnlySpan<byte> file)
    {
        if (file.Length < 8) throw TooShort(file.Length);
        int headerLength = CheckHeaderLength(BinaryPrimitives.ReadUInt64LittleEndian(file), file.Length - 8);
        ReadOnlySpan<byte> data = file[(8 + headerLength)..];
        Header header = ParseHeader(file.Slice(8, headerLength), data.Length);
        CheckCoverage(header.Entries, data.Length);
        return Decode(header, data);
    }

    /// <summary>
    /// Reads a file from a stream in three steps, each checked before the next is read: the 8-byte length, the header, then
    /// exactly the data its tensors cover. A seekable stream's length bounds every step up front; for a stream of unknown
    /// length the buffers grow with the bytes that arrive, never past what the header claims, so a stream that ends early
    /// (or never ends) costs little memory and fails as truncated (or as longer than its tensors).
    /// </summary>
    public static SafeTensorsFile Read(Stream stream)
    {
        long? remaining = stream.CanSeek ? Math.Max(0, stream.Length - stream.Position) : null;
        if (remaining > Array.MaxLength)
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the file has {remaining} bytes; NormSharp reads safetensors files of up to 2 GB."));

        if (remaining < 8) throw TooShort((int)remaining.Value);
        Span<byte> prefix = stackalloc byte[8];
        int prefixRead = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        if (prefixRead < 8) throw TooShort(prefixRead);
        int headerLength = CheckHeaderLength(BinaryPrimitives.ReadUInt64LittleEndian(prefix), remaining - 8);
        byte[] headerBytes = ReadUpTo(stream, headerLength, remaining is not null, out int headerRead);
        if (headerRead < headerLength) throw HeaderPastTheEnd((ulong)headerLength, headerRead);

        long? dataLength = remaining - 8 - headerLength;
        Header header = ParseHeader(headerBytes, dataLength);
        int covered = header.Entries.Count == 0 ? 0 : (int)header.Entries.Max(e => e.End);
        CheckCoverage(header.Entries, dataLength ?? covered);
        byte[] data = ReadUpTo(stream, covered, remaining is not null, out int dataRead);
        if (dataRead < covered)
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the file is truncated: its tensors need {covered} bytes of data, it ends after {dataRead}."));
        if (dataLength is null && stream.ReadByte() >= 0)
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the data buffer has more than {covered} bytes but the tensors cover {covered}."));
        return Decode(header, data);
    }

    private static SafeTensorsException TooShort(int length) =>
        new(string.Create(CultureInfo.InvariantCulture, $"the file has {length} bytes; a safetensors file starts with an 8-byte header length."));

    private static SafeTensorsException HeaderPastTheEnd(ulong headerLength, long following) =>
        new(string.Create(CultureInfo.InvariantCulture,
            $"the header length {headerLength} exceeds the {following} bytes that follow it (truncated or corrupt file)."));

    /// <summary>The header length, checked against the limit and, when known, against the bytes after the prefix.</summary>
    private static int CheckHeaderLength(ulong headerLength, long? following)
    {
        if (headerLength > SafeTensors.MaxHeaderLength)
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the header length {headerLength} exceeds the limit of {SafeTensors.MaxHeaderLength} bytes."));
        if (following is long known && headerLength > (ulong)known) throw HeaderPastTheEnd(headerLength, known);
        return (int)headerLength;
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> bytes. When the stream's length is known (and already checked to hold them) the
    /// buffer is allocated whole; otherwise it starts at <see cref="FirstChunk"/> and doubles while bytes keep arriving.
    /// </summary>
    /// <returns>The buffer, <paramref name="count"/> long unless the stream ended first (then <paramref name="read"/> says
    /// how much of it holds data).</returns>
    private static byte[] ReadUpTo(Stream stream, int count, bool lengthKnown, out int read)
    {
        var buffer = new byte[lengthKnown ? count : Math.Min(count, FirstChunk)];
        read = 0;
        while (true)
        {
            read += stream.ReadAtLeast(buffer.AsSpan(read), buffer.Length - read, throwOnEndOfStream: false);
            if (read < buffer.Length || buffer.Length == count) return buffer;
            Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
        }
    }

    private static SafeTensorsFile Decode(Header header, ReadOnlySpan<byte> data)
    {
        var tensors = new StateDict();
        var skipped = new List<SkippedTensor>();
        foreach (Entry entry in header.Entries)
        {
            StateDType? dtype = SafeTensorsDType.ToStateDType(entry.DType);
            if (dtype is null)
            {
                skipped.Add(new SkippedTensor(entry.Name, entry.DType, entry.Shape));
                continue;
            }

            Array values = SafeTensorsDType.Decode(dtype.Value, data[(int)entry.Begin..(int)entry.End]);
            tensors.Add(entry.Name, StateTensor.FromStored(dtype.Value, entry.Shape, values));
        }

        return new SafeTensorsFile(tensors, header.Metadata, skipped);
    }

    /// <param name="header">The header's bytes.</param>
    /// <param name="dataLength">The length of the data buffer after the header, or null when the stream's length is not
    /// known (then offsets are bounded by the 2 GB NormSharp reads, and the data read afterwards must match).</param>
    private static Header ParseHeader(ReadOnlySpan<byte> header, long? dataLength)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw new SafeTensorsException("the header is not valid UTF-8.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray(), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException($"the header is not valid JSON of at most 3 levels: {e.Message}", e);
        }

        using (document)
        {
            CheckStringEscapes(header);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsException($"the header must be a JSON object, not {root.ValueKind}.");

            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!names.Add(name)) throw new SafeTensorsException($"the header names \"{name}\" twice.");
                if (name == MetadataKey)
                {
                    ReadMetadata(property.Value, metadata);
                    continue;
                }

                if (name.Length == 0) throw new SafeTensorsException("the header has a tensor with an empty name.");
                entries.Add(ReadEntry(name, property.Value, dataLength));
            }

            return new Header(entries, metadata);
        }
    }

    /// <summary>
    /// Strict decoding of the header's strings: JSON's grammar allows any <c>\uXXXX</c> escape, but a name or a metadata
    /// string must be valid Unicode, so a surrogate escape must be a high one followed by an escaped low one. (Unescaped
    /// surrogates cannot occur: valid UTF-8 has none.)
    /// </summary>
    private static void CheckStringEscapes(ReadOnlySpan<byte> header)
    {
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = JsonOptions.MaxDepth });
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.PropertyName or JsonTokenType.String) || !reader.ValueIsEscaped) continue;
            int at = FindUnpairedSurrogate(reader.ValueSpan);
            if (at < 0) continue;
            string escape = System.Text.Encoding.ASCII.GetString(reader.ValueSpan.Slice(at, 6));
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the header has a string with the escape {escape}, an unpaired UTF-16 surrogate (byte {reader.TokenStartIndex + 1 + at} " +
                $"of the header); names and metadata must be valid Unicode."));
        }
    }

    /// <summary>Where, in a JSON string's escaped text, the first surrogate escape that is not a high-low pair starts; -1 if
    /// none. The text is valid JSON: every backslash starts an escape, every <c>\u</c> has four hex digits.</summary>
    private static int FindUnpairedSurrogate(ReadOnlySpan<byte> escaped)
    {
        for (int i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] != (byte)'\\') continue;
            if (escaped[i + 1] != (byte)'u')
            {
                i++;
                continue;
            }

            char unit = HexUnit(escaped.Slice(i + 2, 4));
            if (char.IsLowSurrogate(unit)) return i;
            if (char.IsHighSurrogate(unit))
            {
                bool paired = i + 12 <= escaped.Length && escaped[i + 6] == (byte)'\\' && escaped[i + 7] == (byte)'u'
                              && char.IsLowSurrogate(HexUnit(escaped.Slice(i + 8, 4)));
                if (!paired) return i;
                i += 6;
            }

            i += 5;
        }

        return -1;
    }

    private static char HexUnit(ReadOnlySpan<byte> digits)
    {
        int value = 0;
        foreach (byte digit in digits) value = value * 16 + (digit <= (byte)'9' ? digit - '0' : (digit | 0x20) - 'a' + 10);
        return (char)value;
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object) throw new SafeTensorsException("__metadata__ must be an object of strings.");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsException($"__metadata__ entry \"{item.Name}\" must be a string, not {item.Value.ValueKind}.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new SafeTensorsException($"__metadata__ names \"{item.Name}\" twice.");
        }
    }

    private static Entry ReadEntry(string name, JsonElement value, long? dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsException($"tensor \"{name}\": its entry must be an object with dtype, shape and data_offsets.");
        string? dtype = null;
        long[]? shape = null;
        long[]? offsets = null;
        foreach (JsonProperty field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtype is null:
                    dtype = field.Value.ValueKind == JsonValueKind.String ? field.Value.GetString()! : throw new SafeTensorsException($"tensor \"{name}\": dtype must be a string.");
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(name, "shape", field.Value);
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadIntegers(name, "data_offsets", field.Value);
                    break;
                default:
                    throw new SafeTensorsException($"tensor \"{name}\": unexpected or repeated field \"{field.Name}\".");
            }
        }

        if (dtype is null || shape is null || offsets is null)
            throw new SafeTensorsException($"tensor \"{name}\": the entry needs dtype, shape and data_offsets.");
        if (!SafeTensorsDType.TryGetSize(dtype, out int elementSize))
            throw new SafeTensorsException($"tensor \"{name}\": unknown dtype \"{dtype}\".");
        if (offsets.Length != 2)
            throw new SafeTensorsException($"tensor \"{name}\": data_offsets must be [begin, end], got {offsets.Length} numbers.");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new SafeTensorsException($"tensor \"{name}\": data_offsets [{begin}, {end}] end before they begin.");
        if (dataLength is long known && end > known)
            throw new SafeTensorsException($"tensor \"{name}\": data_offsets [{begin}, {end}] run past the data buffer ({known} bytes).");
        if (end > Array.MaxLength)
            throw new SafeTensorsException($"tensor \"{name}\": data_offsets [{begin}, {end}] run past the 2 GB of data NormSharp reads.");

        long elements = 1;
        bool empty = shape.Contains(0);
        foreach (long length in shape)
        {
            if (empty) break;
            if (elements > long.MaxValue / length)
                throw new SafeTensorsException($"tensor \"{name}\": shape [{string.Join(", ", shape)}] has more elements than can be addressed.");
            elements *= length;
        }

        if (empty) elements = 0;
        if (elements > (end - begin) / elementSize || elements * elementSize != end - begin)
            throw new SafeTensorsException($"tensor \"{name}\": shape [{string.Join(", ", shape)}] of {dtype} needs " +
                                           $"{(elements > long.MaxValue / elementSize ? "more than 2^63" : (elements * elementSize).ToString(CultureInfo.InvariantCulture))} bytes, " +
                                           $"data_offsets [{begin}, {end}] give {end - begin}.");
        return new Entry(name, dtype, shape, begin, end);
    }

    private static long[] ReadIntegers(string name, string field, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Array) throw new SafeTensorsException($"tensor \"{name}\": {field} must be an array of integers.");
        var numbers = new long[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long number) || number < 0)
                throw new SafeTensorsException($"tensor \"{name}\": {field} must hold non-negative integers, found {item.GetRawText()}.");
            numbers[i++] = number;
        }

        return numbers;
    }

    /// <summary>The tensors must cover the data buffer exactly: sorted by offset, each begins where the previous ended.</summary>
    private static void CheckCoverage(List<Entry> entries, long dataLength)
    {
        long expected = 0;
        string? previous = null;
        foreach (Entry entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < expected)
                throw new SafeTensorsException($"tensors \"{previous}\" and \"{entry.Name}\" overlap in the data buffer.");
            if (entry.Begin > expected)
                throw new SafeTensorsException($"bytes {expected} to {entry.Begin} of the data buffer belong to no tensor (before \"{entry.Name}\").");
            expected = entry.End;
            previous = entry.Name;
        }

        if (expected != dataLength)
            throw new SafeTensorsException($"the data buffer has {dataLength} bytes but the tensors cover {expected}.");
    }
}
