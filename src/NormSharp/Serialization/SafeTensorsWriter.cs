using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;

namespace NormSharp.Serialization;

/// <summary>
/// Writes the safetensors layout: an 8-byte little-endian header length, the JSON header (<c>__metadata__</c> first, then
/// each tensor's dtype, shape and data_offsets, in the state dict's order) padded with spaces to a multiple of 8 bytes,
/// then the tensors' little-endian bytes, back to back.
/// </summary>
internal static class SafeTensorsWriter
{
    /// <summary>The header (length prefix included) and the data buffer of a file holding <paramref name="state"/>.</summary>
    public static (byte[] Header, byte[] Data) Encode(StateDict state, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(state);
        // A lazy layer's uninitialized entries have no shape and no bytes: the format has nothing to write for them.
        string[] uninitialized = state.Where(e => e.Value.IsUninitialized).Select(e => $"\"{e.Key}\"").ToArray();
        if (uninitialized.Length > 0)
            throw new ArgumentException(
                $"safetensors cannot hold uninitialized tensors, and {string.Join(", ", uninitialized)} {(uninitialized.Length == 1 ? "is" : "are")} " +
                "uninitialized (a lazy layer before its first forward or load): run a forward or load a checkpoint into the layer " +
                "first, so that its tensors have a shape and values.", nameof(state));
        var json = new ArrayBufferWriter<byte>();
        long offset = 0;
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("__metadata__");
            if (metadata is null || !metadata.ContainsKey("format")) writer.WriteString("format", "pt");
            if (metadata is not null)
            {
                foreach (var (key, value) in metadata)
                {
                    ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                    ThrowIfNotUnicode(key, nameof(metadata));
                    ThrowIfNotUnicode(value, nameof(metadata));
                    writer.WriteString(key, value);
                }
            }

            writer.WriteEndObject();
            foreach (var (name, tensor) in state)
            {
                if (name.Length == 0 || name == "__metadata__")
                    throw new ArgumentException($"\"{name}\" cannot name a tensor in a safetensors file.", nameof(state));
                ThrowIfNotUnicode(name, nameof(state));
                long length = (long)tensor.Count * SafeTensorsDType.Size(tensor.DType);
                writer.WriteStartObject(name);
                writer.WriteString("dtype", SafeTensorsDType.Name(tensor.DType));
                writer.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape) writer.WriteNumberValue(dimension);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + length);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += length;
            }

            writer.WriteEndObject();
        }

        int padded = (json.WrittenCount + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.WrittenSpan.CopyTo(header.AsSpan(8));
        header.AsSpan(8 + json.WrittenCount).Fill((byte)' ');

        if (offset > Array.MaxLength) throw new NotSupportedException("NormSharp writes safetensors files of up to 2 GB of tensor data.");
        var data = new byte[offset];
        long position = 0;
        foreach (var (_, tensor) in state)
        {
            int length = tensor.Count * SafeTensorsDType.Size(tensor.DType);
            SafeTensorsDType.Encode(tensor, data.AsSpan((int)position, length));
            position += length;
        }

        return (header, data);
    }

    /// <summary>
    /// A string with an unpaired UTF-16 surrogate has no UTF-8 form: the JSON writer would replace it with U+FFFD and the
    /// file would hold another name than the one saved, so it is refused instead (the reader refuses such escapes too).
    /// </summary>
    private static void ThrowIfNotUnicode(string text, string parameter)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i]))
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"a name or metadata string holds an unpaired UTF-16 surrogate (U+{(int)text[i]:X4} at index {i}, after \"{text[..i]}\"); names and metadata in a safetensors file must be valid Unicode."),
                    parameter);
        }
    }
}
