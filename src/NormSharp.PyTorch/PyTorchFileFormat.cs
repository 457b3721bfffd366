namespace NormSharp.PyTorch;

/// <summary>What the first bytes of a file say it is, as far as PyTorch's formats go (see
/// <see cref="PyTorchCheckpoint.DetectFormat"/>).</summary>
public enum PyTorchFileFormat
{
    /// <summary>Neither of PyTorch's formats.</summary>
    Other,

    /// <summary>A zip archive: torch.save's format since PyTorch 1.6 (or another zip file).</summary>
    ZipArchive,

    /// <summary>torch.save's legacy format (PyTorch before 1.6, or <c>_use_new_zipfile_serialization=False</c>): pickles
    /// back to back, starting with PyTorch's magic number. Not read.</summary>
    Legacy,

    /// <summary>A Python pickle without PyTorch's magic number. Not read.</summary>
    Pickle,
}
