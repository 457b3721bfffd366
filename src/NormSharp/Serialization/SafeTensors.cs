namespace NormSharp.Serialization;

/// <summary>
/// Reads and writes safetensors files, the format PyTorch's ecosystem uses to hand tensors to other runtimes: an 8-byte
/// little-endian header length, a JSON header (name → dtype, shape, data_offsets; optional <c>__metadata__</c>), then the
/// raw little-endian bytes.
/// </summary>
/// <remarks>
/// <para>Loaded: F32, F64, F16, BF16 and I64 tensors (F16/BF16 held as float; a module converts each to its own element
/// type on load). The format's other dtypes are validated and listed in <see cref="SafeTensorsFile.Skipped"/>.
/// Written: the state dict's own types (float32 modules write F32, double modules F64, counters I64), with
/// <c>{"format": "pt"}</c> in the metadata as PyTorch's tools write it.</para>
/// <para>Reading is hardened for files from anywhere: see <see cref="SafeTensorsException"/> for the one exception type bad
/// content raises. Writing to a path is atomic (temporary file, flush to disk, rename).</para>
/// <example>
/// <code>
/// var model = new NormModuleCollection { ["layer1.0.bn1"] = new BatchNorm2d(64), ["head.norm"] = new InstanceNorm1d(8, affine: true) };
/// model.SaveSafeTensors("model.safetensors");            // keys layer1.0.bn1.weight, ..., head.norm.bias
/// model.LoadSafeTensors("model.safetensors");            // strict: missing, unexpected and mismatched keys in one error
/// StateDict tensors = SafeTensors.ReadFile("model.safetensors").Tensors;
/// </code>
/// </example>
/// </remarks>
public static class SafeTensors
{
    /// <summary>The largest header accepted, in bytes (100 MB, the reference implementation's limit).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Parses a whole safetensors file held in memory.</summary>
    /// <param name="file">The file's bytes.</param>
    /// <exception cref="SafeTensorsException">The content is not a valid safetensors file; the message names the problem.</exception>
    public static SafeTensorsFile Read(ReadOnlySpan<byte> file) => SafeTensorsReader.Read(file);

    /// <summary>Reads and parses a safetensors file (up to 2 GB).</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="SafeTensorsException">The content is not a valid safetensors file.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafeTensorsFile ReadFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(stream);
    }

    /// <summary>Reads a safetensors file from a stream, to its end (up to 2 GB).</summary>
    /// <param name="stream">A readable stream positioned at the file's start.</param>
    /// <exception cref="SafeTensorsException">The content is not a valid safetensors file.</exception>
    public static SafeTensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek && stream.Length - stream.Position > Array.MaxLength)
            throw new SafeTensorsException($"the file has {stream.Length - stream.Position} bytes; NormSharp reads safetensors files of up to 2 GB.");
        using var buffer = new MemoryStream(stream.CanSeek ? (int)(stream.Length - stream.Position) : 0);
        stream.CopyTo(buffer);
        return Read(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    /// <summary>The bytes of a safetensors file holding <paramref name="state"/>.</summary>
    /// <param name="state">The tensors, under the names they get in the file, in order.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings (<c>format</c> is <c>pt</c> unless given).</param>
    public static byte[] Serialize(StateDict state, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, data) = SafeTensorsWriter.Encode(state, metadata);
        return [.. header, .. data];
    }

    /// <summary>Writes <paramref name="state"/> to <paramref name="path"/> atomically: the old file, if any, stays intact
    /// until the new one is complete on disk, then is replaced in one rename.</summary>
    /// <param name="path">The target file.</param>
    /// <param name="state">The tensors, under the names they get in the file.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings.</param>
    public static void WriteFile(string path, StateDict state, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, data) = SafeTensorsWriter.Encode(state, metadata);
        AtomicFile.Write(path, header, data);
    }
}
