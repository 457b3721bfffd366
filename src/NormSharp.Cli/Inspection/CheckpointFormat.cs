using NormSharp.PyTorch;

namespace NormSharp.Cli.Inspection;

/// <summary>What kind of file a checkpoint path holds, told from its first bytes.</summary>
public enum CheckpointFormat
{
    /// <summary>No bytes at all.</summary>
    Empty,

    /// <summary>safetensors: an 8-byte header length, then a JSON object.</summary>
    SafeTensors,

    /// <summary>torch.save's zip archive (PyTorch 1.6 and later).</summary>
    TorchSave,

    /// <summary>torch.save's legacy format (before PyTorch 1.6): not read.</summary>
    TorchSaveLegacy,

    /// <summary>A bare Python pickle: not read.</summary>
    Pickle,

    /// <summary>Text (printable UTF-8 and whitespace).</summary>
    Text,

    /// <summary>Anything else.</summary>
    Unknown,
}

/// <summary>Tells a checkpoint's format from its first bytes (16 are enough).</summary>
public static class CheckpointFormats
{
    /// <summary>The number of bytes <see cref="Detect"/> looks at.</summary>
    public const int HeadLength = 16;

    /// <summary>The format of a file that starts with <paramref name="head"/> (its first bytes, fewer when the file is shorter).</summary>
    public static CheckpointFormat Detect(ReadOnlySpan<byte> head)
    {
        if (head.IsEmpty) return CheckpointFormat.Empty;

        // safetensors first: its 8-byte little-endian header length can start with 0x80, a pickle's first byte, but a
        // pickle does not go on with four zero bytes and a '{' at offset 8.
        if (LooksLikeSafeTensors(head)) return CheckpointFormat.SafeTensors;
        switch (PyTorchCheckpoint.DetectFormat(head))
        {
            case PyTorchFileFormat.ZipArchive: return CheckpointFormat.TorchSave;
            case PyTorchFileFormat.Legacy: return CheckpointFormat.TorchSaveLegacy;
            case PyTorchFileFormat.Pickle: return CheckpointFormat.Pickle;
        }

        return IsText(head) ? CheckpointFormat.Text : CheckpointFormat.Unknown;
    }

    /// <summary>safetensors: a header length below 2^32 (its high four bytes zero), then the JSON header's '{'.</summary>
    private static bool LooksLikeSafeTensors(ReadOnlySpan<byte> head) =>
        head.Length > 8 && head[8] == '{' && head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] == 0;

    /// <summary>How the format is named in messages.</summary>
    public static string Describe(CheckpointFormat format) => format switch
    {
        CheckpointFormat.SafeTensors => "safetensors",
        CheckpointFormat.TorchSave => "torch.save",
        CheckpointFormat.TorchSaveLegacy => "torch.save, legacy format",
        CheckpointFormat.Pickle => "Python pickle",
        CheckpointFormat.Text => "text",
        CheckpointFormat.Empty => "empty",
        _ => "unknown",
    };

    private static bool IsText(ReadOnlySpan<byte> head)
    {
        foreach (byte b in head)
            if (b < 0x20 && b is not ((byte)'\n' or (byte)'\r' or (byte)'\t') || b == 0x7f) return false;
        // A cut multi-byte character at the end of the head still counts as text.
        return System.Text.Unicode.Utf8.IsValid(head) || System.Text.Unicode.Utf8.IsValid(head[..^Math.Min(3, head.Length)]);
    }
}
