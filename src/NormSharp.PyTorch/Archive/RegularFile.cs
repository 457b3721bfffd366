using NormSharp.Serialization;

namespace NormSharp.PyTorch.Archive;

/// <summary>
/// Refuses paths that name something other than a regular file before they are opened: open(2) on a FIFO without a
/// writer blocks forever, and a device such as <c>/dev/zero</c> never ends. .NET reports FIFOs, devices and sockets as
/// normal files, so the type comes from NormSharp's <see cref="FileKind"/> (<c>statx(2)</c> on Linux), as for the
/// safetensors reader; elsewhere only directories are recognized.
/// </summary>
internal static class RegularFile
{
    /// <summary>Throws <see cref="PyTorchCheckpointException"/> unless <paramref name="path"/> is a regular file, or missing
    /// (opening it then reports that), or of a type this platform cannot tell.</summary>
    public static void ThrowIfSpecial(string path)
    {
        string? what = FileKind.Of(path) switch
        {
            FileKind.Type.Directory => "a directory, not a file",
            FileKind.Type.Fifo => "a FIFO (named pipe), not a regular file; a torch.save archive must be read with seeks",
            FileKind.Type.CharacterDevice => "a character device, not a regular file",
            FileKind.Type.BlockDevice => "a block device, not a regular file",
            FileKind.Type.Socket => "a socket, not a regular file",
            _ => null,
        };
        if (what is not null) throw new PyTorchCheckpointException($"the path is {what}.");
    }
}
