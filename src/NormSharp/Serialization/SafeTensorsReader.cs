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
/// file; the header valid UTF-8, valid JSON, an object nested at most 3 deep, without duplicate names; each entry an object with
/// exactly <c>dtype</c> (a dtype the format defines), <c>shape</c> (non-negative integers whose product does not overflow)
/// and <c>data_offsets</c> (two integers, begin &lt;= end &lt;= the data's length) whose span is the shape's byte size;
/// <c>__metadata__</c> an object of strings; the tensors covering the data buffer exactly, without overlap or gap. Memory
/// used is bounded by a small multiple of the file's size (the header's parse tree, then the decoded tensors: at most
/// twice their bytes, for F16/BF16 held as float).
/// </remarks>
internal static class SafeTensorsReader
{
    private const string MetadataKey = "__metadata__";
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 3, CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false };

    private sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public static SafeTensorsFile Read(ReadOnlySpan<byte> file)
    {
        if (file.Length < 8)
            throw new SafeTensorsException($"the file has {file.Length} bytes; a safetensors file starts with an 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > SafeTensors.MaxHeaderLength)
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the header length {headerLength} exceeds the limit of {SafeTensors.MaxHeaderLength} bytes."));
        if (headerLength > (ulong)(file.Length - 8))
            throw new SafeTensorsException(string.Create(CultureInfo.InvariantCulture,
                $"the header length {headerLength} exceeds the {file.Length - 8} bytes that follow it (truncated or corrupt file)."));

        ReadOnlySpan<byte> header = file.Slice(8, (int)headerLength);
        ReadOnlySpan<byte> data = file[(8 + (int)headerLength)..];
        var (entries, metadata) = ParseHeader(header, data.Length);
        CheckCoverage(entries, data.Length);

        var tensors = new StateDict();
        var skipped = new List<SkippedTensor>();
        foreach (Entry entry in entries)
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

        return new SafeTensorsFile(tensors, metadata, skipped);
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata) ParseHeader(ReadOnlySpan<byte> header, long dataLength)
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

            return (entries, metadata);
        }
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

    private static Entry ReadEntry(string name, JsonElement value, long dataLength)
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
        if (end > dataLength)
            throw new SafeTensorsException($"tensor \"{name}\": data_offsets [{begin}, {end}] run past the data buffer ({dataLength} bytes).");

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
