using System.Text;
using NormSharp.PyTorch.Archive;
using NormSharp.PyTorch.Pickle;
using NormSharp.PyTorch.Tensors;
using NormSharp.Serialization;

namespace NormSharp.PyTorch;

/// <summary>
/// Reads PyTorch's <c>torch.save</c> checkpoints (the zip format of PyTorch 1.6 and later) into a <see cref="StateDict"/>,
/// with an unpickler restricted as <c>torch.load(..., weights_only=True)</c> is: a file that asks for any global outside
/// <see cref="AllowedGlobals"/> (<c>os.system</c>, <c>builtins.eval</c>, <c>subprocess.Popen</c>) is refused, and no code
/// from a file ever runs.
/// </summary>
/// <remarks>
/// <para>Read: float32, float64, float16, bfloat16 and int64 tensors, views of shared storages at any offset and stride
/// (copied to row-major order), 0-dim tensors, nested names (<c>layer1.0.bn1.running_mean</c>), and PyTorch's
/// per-module <c>_metadata</c> versions (<see cref="StateDict.ModuleVersions"/>), so that a layer saved at version 1 gets
/// the counter migration. Tensors of other dtypes are validated and listed in <see cref="PyTorchCheckpointFile.Skipped"/>.
/// Tensors saved from a GPU are read on the CPU.</para>
/// <para>Refused, each with a <see cref="PyTorchCheckpointException"/> naming the problem: the legacy format (before
/// PyTorch 1.6), TorchScript archives, other zip files, any global or opcode a weights-only load does not allow, and
/// damaged or hostile archives (see <see cref="MaxEntries"/>, <see cref="MaxExpansionRatio"/>,
/// <see cref="MaxPickleLength"/>).</para>
/// <para>Memory: the zip directory, the pickle, the tensors read, and one pooled buffer the size of the largest storage;
/// entries are read in place from the file, never the whole archive at once.</para>
/// <example>
/// <code>
/// StateDict state = PyTorchCheckpoint.ReadFile("resnet.pt").Tensors;
/// var model = new NormModuleCollection("ResNet") { ["bn1"] = new BatchNorm2d(64), ["layer1.0.bn1"] = new BatchNorm2d(64) };
/// model.LoadPyTorchCheckpoint("resnet.pt", strict: false);       // the convolutions' keys are unexpected here
/// PyTorchCheckpoint.ConvertToSafeTensors("resnet.pt", "resnet.safetensors");
/// </code>
/// </example>
/// </remarks>
public static class PyTorchCheckpoint
{
    /// <summary>The most entries an archive may have (PyTorch writes one per storage, plus three).</summary>
    public const int MaxEntries = 100_000;

    /// <summary>The largest <c>data.pkl</c> read, in bytes (a state dict's takes about 150 bytes a tensor).</summary>
    public const int MaxPickleLength = 64 << 20;

    /// <summary>An archive's entries may expand to at most this many times its size, plus <see cref="ExpansionAllowance"/>:
    /// more is refused as a zip bomb. PyTorch stores its entries uncompressed (a ratio of 1).</summary>
    public const int MaxExpansionRatio = 100;

    /// <summary>The bytes of expansion always allowed, beyond <see cref="MaxExpansionRatio"/> and
    /// <see cref="MaxViewExpansion"/> (64 MiB), so that small compressed files of zeros still read.</summary>
    public const long ExpansionAllowance = 64L << 20;

    /// <summary>The tensors read may take at most this many times the bytes of the storages they view, plus
    /// <see cref="ExpansionAllowance"/>: views copied out of a shared storage, or broadcast by a stride of 0, beyond that are
    /// refused.</summary>
    public const int MaxViewExpansion = 4;

    /// <summary>The first bytes of the legacy format: pickle protocol 2, then PyTorch's magic number 0x1950a86a20f9469cfc6c
    /// as a 10-byte LONG1.</summary>
    private static readonly byte[] LegacyMagic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    /// <summary>The globals a checkpoint's pickle may name: <c>collections.OrderedDict</c>, the tensor and parameter rebuild
    /// functions of <c>torch._utils</c>, <c>torch.nn.parameter.Parameter</c>, <c>torch.Size</c>, <c>torch.device</c>, the
    /// storage classes (<c>torch.FloatStorage</c>, ..., <c>torch.cuda.*Storage</c>, <c>torch.storage.UntypedStorage</c>) and
    /// dtypes (<c>torch.float32</c>, ...). Every one is on PyTorch's own weights-only allow-list.</summary>
    public static IReadOnlyList<string> AllowedGlobals { get; } = [.. AllowList.Globals.Keys.Order(StringComparer.Ordinal)];

    /// <summary>What the first bytes of a file (16 are enough) say it is.</summary>
    /// <param name="head">The file's first bytes.</param>
    public static PyTorchFileFormat DetectFormat(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 4 && head[0] == 'P' && head[1] == 'K' && ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
            return PyTorchFileFormat.ZipArchive;
        // A safetensors file's 8-byte header length may begin with 0x80 too: its JSON '{' at offset 8 tells it apart.
        if (head.Length > 8 && head[8] == '{' && head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] == 0)
            return PyTorchFileFormat.Other;
        if (head.Length >= 2 && head[0] == 0x80 && head[1] <= 5)
            return head.Length >= 2 + LegacyMagic.Length && head.Slice(2, LegacyMagic.Length).SequenceEqual(LegacyMagic)
                ? PyTorchFileFormat.Legacy
                : PyTorchFileFormat.Pickle;
        return PyTorchFileFormat.Other;
    }

    /// <summary>Reads the state dict of a torch.save file.</summary>
    /// <param name="path">The file (a regular file: directories, FIFOs, devices and sockets are refused before opening).</param>
    /// <param name="entry">For a training checkpoint that holds the state dict as one entry of a dict (<c>{"epoch": 3,
    /// "model": ...}</c>), that entry's key; null when the file holds the state dict itself.</param>
    /// <returns>The tensors under their keys, and the tensors of dtypes not loaded.</returns>
    /// <exception cref="PyTorchCheckpointException">Anything wrong with the file, including I/O errors (the
    /// <see cref="IOException"/> as inner exception); nothing else escapes for a bad file.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    public static PyTorchCheckpointFile ReadFile(string path, string? entry = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            RegularFile.ThrowIfSpecial(path);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.RandomAccess);
            return ReadCore(stream, entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PyTorchCheckpointException($"the file cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Reads the state dict of a torch.save file from a stream that can seek (a zip archive is read from its end).</summary>
    /// <param name="stream">A readable, seekable stream holding the whole file from position 0.</param>
    /// <param name="entry">See <see cref="ReadFile"/>.</param>
    /// <exception cref="PyTorchCheckpointException">Anything wrong with the content, or an I/O error.</exception>
    /// <exception cref="ArgumentException">The stream cannot read or seek.</exception>
    public static PyTorchCheckpointFile Read(Stream stream, string? entry = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead || !stream.CanSeek) throw new ArgumentException("the stream must be readable and seekable (a zip archive is read from its end).", nameof(stream));
        try
        {
            return ReadCore(stream, entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PyTorchCheckpointException($"the stream cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Reads a torch.save file and writes its tensors as a safetensors file, atomically (see
    /// <see cref="SafeTensors.WriteFile"/>): float16 and bfloat16 stay F16 and BF16, counters I64.</summary>
    /// <param name="source">The torch.save file.</param>
    /// <param name="destination">The safetensors file to write (replaced atomically if it exists).</param>
    /// <param name="entry">See <see cref="ReadFile"/>.</param>
    /// <returns>What was read, and so written.</returns>
    /// <remarks>safetensors has no place for PyTorch's per-module versions: a layer saved at version 1 without its counter
    /// loads from the safetensors file with the counter at 0, as from the original.</remarks>
    /// <exception cref="PyTorchCheckpointException">The source cannot be read, or a tensor's name cannot name a tensor in a
    /// safetensors file (empty, or <c>__metadata__</c>).</exception>
    /// <exception cref="IOException">The destination cannot be written.</exception>
    public static PyTorchCheckpointFile ConvertToSafeTensors(string source, string destination, string? entry = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(destination);
        PyTorchCheckpointFile file = ReadFile(source, entry);
        string? bad = file.Tensors.Keys.FirstOrDefault(k => k.Length == 0 || k == "__metadata__");
        if (bad is not null) throw new PyTorchCheckpointException($"tensor {Quoting.Quote(bad)} cannot be named so in a safetensors file.");
        SafeTensors.WriteFile(destination, file.Tensors);
        return file;
    }

    private static PyTorchCheckpointFile ReadCore(Stream stream, string? entry)
    {
        Span<byte> head = stackalloc byte[16];
        stream.Position = 0;
        int headLength = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        switch (DetectFormat(head[..headLength]))
        {
            case PyTorchFileFormat.Legacy:
                throw new PyTorchCheckpointException(
                    "this is a torch.save file in the legacy format (PyTorch before 1.6, or _use_new_zipfile_serialization=False), " +
                    "which is not supported: re-save it with torch.save(..., _use_new_zipfile_serialization=True) or convert it " +
                    "with PyTorch 1.6 or later (torch.save(torch.load(path), path)).");
            case PyTorchFileFormat.Pickle:
                throw new PyTorchCheckpointException("this is a bare Python pickle, not a torch.save file (a zip archive).");
            case PyTorchFileFormat.Other:
                throw new PyTorchCheckpointException(headLength == 0
                    ? "the file is empty."
                    : "this is not a torch.save file: it does not start as a zip archive does (\"PK\").");
        }

        ZipDirectory zip = ZipDirectory.Read(stream);
        string archive = ArchiveName(zip);
        ReadFormatVersion(zip, archive);
        bool bigEndian = ReadByteOrder(zip, archive);
        byte[] pickle = ReadWhole(zip, zip.Find($"{archive}/data.pkl")!, MaxPickleLength);
        Unpickled unpickled;
        try
        {
            unpickled = RestrictedUnpickler.Load(pickle);
        }
        catch (PyTorchCheckpointException e) when (zip.Find($"{archive}/constants.pkl") is not null || zip.Entries.Any(x => x.Name.StartsWith($"{archive}/code/", StringComparison.Ordinal)))
        {
            throw new PyTorchCheckpointException(
                e.Message + " This is a TorchScript archive (torch.jit.save): save the model's state_dict() with torch.save instead.", e);
        }

        return TensorMaterializer.Build(zip, archive, unpickled, SelectStateDict(unpickled, entry), bigEndian);
    }

    /// <summary>The folder all records lie in (PyTorch names it after the file, or <c>archive</c>): the one that holds
    /// <c>data.pkl</c>.</summary>
    private static string ArchiveName(ZipDirectory zip)
    {
        var candidates = zip.Entries.Select(e => e.Name)
                            .Where(n => n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.IndexOf('/', StringComparison.Ordinal) == n.Length - 9)
                            .ToList();
        return candidates.Count switch
        {
            1 => candidates[0][..^9],
            0 => throw new PyTorchCheckpointException("this zip archive has no ARCHIVE/data.pkl: it is not a torch.save file."),
            _ => throw new PyTorchCheckpointException($"this zip archive has {candidates.Count} data.pkl records ({string.Join(", ", candidates.Take(3))}); a torch.save file has one."),
        };
    }

    private static void ReadFormatVersion(ZipDirectory zip, string archive)
    {
        ZipEntry record = zip.Find($"{archive}/version") ?? zip.Find($"{archive}/.data/version")
            ?? throw new PyTorchCheckpointException($"this zip archive has no {archive}/version record: it is not a torch.save file.");
        string text = Encoding.ASCII.GetString(ReadWhole(zip, record, 32)).Trim();
        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long version) || version < 1)
            throw new PyTorchCheckpointException($"the archive's format version is not a positive integer.");
    }

    private static bool ReadByteOrder(ZipDirectory zip, string archive)
    {
        ZipEntry? record = zip.Find($"{archive}/byteorder");
        if (record is null) return false;
        return Encoding.ASCII.GetString(ReadWhole(zip, record, 16)).Trim() switch
        {
            "little" => false,
            "big" => true,
            _ => throw new PyTorchCheckpointException("the archive's byteorder record is neither \"little\" nor \"big\"."),
        };
    }

    private static byte[] ReadWhole(ZipDirectory zip, ZipEntry entry, int maxLength)
    {
        if (entry.Length > maxLength)
            throw new PyTorchCheckpointException($"entry \"{entry.Name}\" holds {entry.Length:N0} bytes, more than the {maxLength:N0} accepted.");
        var bytes = new byte[entry.Length];
        zip.ReadEntry(entry, bytes);
        return bytes;
    }

    private static PyDict SelectStateDict(Unpickled pickle, string? entry)
    {
        if (pickle.Root is not PyDict dict)
            throw new PyTorchCheckpointException($"the file holds {RestrictedUnpickler.Describe(pickle.Root)}, not a state dict (a dict of tensors).");
        if (entry is not null)
        {
            if (!pickle.TryGet(dict, entry, out object? selected))
                throw new PyTorchCheckpointException($"the file's dict has no entry {Quoting.Quote(entry)}; its entries are {KeyList(dict)}.");
            return selected as PyDict
                ?? throw new PyTorchCheckpointException($"entry {Quoting.Quote(entry)} of the file is {RestrictedUnpickler.Describe(selected)}, not a state dict (a dict of tensors).");
        }

        var notTensor = dict.Entries.FirstOrDefault(e => e.Value is not TensorRef);
        if (notTensor.Key is null) return dict;
        var dicts = dict.Entries.Where(e => e.Key is string && e.Value is PyDict).Select(e => Quoting.Quote(e.Key)).ToList();
        string hint = dicts.Count > 0
            ? $"; to read one of its dict entries ({string.Join(", ", dicts.Take(10))}) as the state dict, pass its key as entry (CLI: --entry)"
            : "";
        throw new PyTorchCheckpointException(
            $"the file holds a dict whose entry {Quoting.Quote(notTensor.Key)} is {RestrictedUnpickler.Describe(notTensor.Value)}, not a tensor: it is not a state dict{hint}.");
    }

    private static string KeyList(PyDict dict) =>
        dict.Count == 0 ? "none" : string.Join(", ", dict.Entries.Take(10).Select(e => Quoting.Quote(e.Key))) + (dict.Count > 10 ? ", ..." : "");
}
