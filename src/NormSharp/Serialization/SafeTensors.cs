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
    /// <remarks>The path must name a regular file: a directory, a FIFO (which would block until a writer appears), a device
    /// such as <c>/dev/zero</c> (which never ends) or a socket is refused before it is opened. The file is read step by step
    /// (<see cref="Read(Stream)"/>), so a corrupt length costs no memory.</remarks>
    /// <param name="path">The file.</param>
    /// <exception cref="SafeTensorsException">The content is not a valid safetensors file, or the path names a directory,
    /// a FIFO, a device or a socket.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafeTensorsFile ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileKind.ThrowIfNotRegular(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(stream);
    }

    /// <summary>Reads a safetensors file from a stream, to its end (up to 2 GB).</summary>
    /// <remarks>
    /// The stream is read in order and checked as it goes: the 8-byte header length (against
    /// <see cref="MaxHeaderLength"/> and, for a seekable stream, its length), the header (validated in full), then exactly
    /// the bytes its tensors cover. Memory stays bounded by what the header claims and by the bytes that actually arrive:
    /// a non-seekable stream that ends early is reported as truncated, and one that goes on past the tensors (an endless
    /// stream included) as having more bytes than they cover, after reading one byte more.
    /// </remarks>
    /// <param name="stream">A readable stream positioned at the file's start.</param>
    /// <exception cref="SafeTensorsException">The content is not a valid safetensors file.</exception>
    /// <exception cref="IOException">The stream cannot be read.</exception>
    public static SafeTensorsFile Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return SafeTensorsReader.Read(stream);
    }

    /// <summary>The bytes of a safetensors file holding <paramref name="state"/>.</summary>
    /// <param name="state">The tensors, under the names they get in the file, in order.</param>
    /// <param name="metadata">Extra <c>__metadata__</c> strings (<c>format</c> is <c>pt</c> unless given).</param>
    /// <exception cref="ArgumentException">An entry is uninitialized (<see cref="StateTensor.IsUninitialized"/>: a lazy layer's
    /// tensor before its first forward), which the format cannot hold; the message names the entries.</exception>
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
    /// <exception cref="ArgumentException">An entry is uninitialized, which the format cannot hold; nothing is written and an
    /// existing file stays as it was.</exception>
    public static void WriteFile(string path, StateDict state, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, data) = SafeTensorsWriter.Encode(state, metadata);
        AtomicFile.Write(path, header, data);
    }
}
