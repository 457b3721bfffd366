using NormSharp.PyTorch;
using NormSharp.Serialization;

namespace NormSharp.Cli.Inspection;

/// <summary>A checkpoint as the CLI reads it, whatever its format.</summary>
/// <param name="Format">What the file was.</param>
/// <param name="Tensors">The tensors NormSharp loads, under their names.</param>
/// <param name="Skipped">Tensors of dtypes NormSharp does not load.</param>
public sealed record LoadedCheckpoint(CheckpointFormat Format, StateDict Tensors, IReadOnlyList<SkippedTensor> Skipped);

/// <summary>A checkpoint the CLI cannot read: the one exception <see cref="CheckpointLoader"/> throws, whatever the format.</summary>
public sealed class CheckpointLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointLoadException()
    {
    }

    /// <summary>Creates the exception with a message naming the problem.</summary>
    public CheckpointLoadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the reader's error.</summary>
    public CheckpointLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Reads a checkpoint of either format NormSharp knows, told from the file's first bytes: safetensors, or torch.save's
/// zip archive (through NormSharp.PyTorch's weights-only reader). The legacy torch.save format, bare pickles, text and
/// empty files are named as such, so that a <c>.pt</c> file is never read as a broken safetensors header.
/// </summary>
public static class CheckpointLoader
{
    /// <summary>Reads the checkpoint at <paramref name="path"/>.</summary>
    /// <param name="path">A regular file (directories, FIFOs and devices are refused before opening).</param>
    /// <param name="entry">For a torch.save training checkpoint, the key of the dict entry that holds the state dict.</param>
    /// <exception cref="CheckpointLoadException">The file cannot be read, is refused, or is of no checkpoint format; the
    /// message says which.</exception>
    public static LoadedCheckpoint Load(string path, string? entry = null)
    {
        try
        {
            FileKind.ThrowIfNotRegular(path);
            CheckpointFormat format = CheckpointFormats.Detect(Head(path));
            switch (format)
            {
                case CheckpointFormat.SafeTensors:
                    if (entry is not null) throw new CheckpointLoadException("--entry applies to torch.save files; this is a safetensors file.");
                    SafeTensorsFile safeTensors = SafeTensors.ReadFile(path);
                    return new LoadedCheckpoint(format, safeTensors.Tensors, safeTensors.Skipped);
                case CheckpointFormat.TorchSave or CheckpointFormat.TorchSaveLegacy or CheckpointFormat.Pickle:
                    PyTorchCheckpointFile torch = PyTorchCheckpoint.ReadFile(path, entry);
                    return new LoadedCheckpoint(format, torch.Tensors, torch.Skipped);
                case CheckpointFormat.Empty:
                    throw new CheckpointLoadException("the file is empty, not a checkpoint.");
                case CheckpointFormat.Text:
                    throw new CheckpointLoadException("the file is text, not a checkpoint (safetensors or torch.save).");
                default:
                    throw new CheckpointLoadException("the file is neither a safetensors file nor a torch.save file.");
            }
        }
        catch (Exception e) when (e is SafeTensorsException or PyTorchCheckpointException or IOException or UnauthorizedAccessException)
        {
            throw new CheckpointLoadException(e.Message, e);
        }
    }

    private static byte[] Head(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        var head = new byte[CheckpointFormats.HeadLength];
        return head[..stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false)];
    }
}
