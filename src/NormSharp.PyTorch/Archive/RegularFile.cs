using System.Runtime.InteropServices;

namespace NormSharp.PyTorch.Archive;

/// <summary>
/// Refuses paths that name something other than a regular file before they are opened: open(2) on a FIFO without a
/// writer blocks forever, and a device such as <c>/dev/zero</c> never ends. .NET reports FIFOs, devices and sockets as
/// normal files, so on Linux the type comes from <c>statx(2)</c>, as NormSharp's safetensors reader does; elsewhere only
/// directories are recognized.
/// </summary>
internal static partial class RegularFile
{
    private const int AtCurrentDirectory = -100;
    private const uint StatXType = 0x1;
    private const int TypeMask = 0xF000;

    private static bool statXMissing;

    /// <summary>Throws <see cref="PyTorchCheckpointException"/> unless <paramref name="path"/> is a regular file, or missing
    /// (opening it then reports that), or of a type this platform cannot tell.</summary>
    public static void ThrowIfSpecial(string path)
    {
        string? what = TryStatXMode(path, out int mode)
            ? (mode & TypeMask) switch
            {
                0x4000 => "a directory, not a file",
                0x1000 => "a FIFO (named pipe), not a regular file; a torch.save archive must be read with seeks",
                0x2000 => "a character device, not a regular file",
                0x6000 => "a block device, not a regular file",
                0xC000 => "a socket, not a regular file",
                _ => null,
            }
            : Directory.Exists(path) ? "a directory, not a file" : null;
        if (what is not null) throw new PyTorchCheckpointException($"the path is {what}.");
    }

    private static bool TryStatXMode(string path, out int mode)
    {
        mode = 0;
        if (!OperatingSystem.IsLinux() || statXMissing) return false;
        try
        {
            if (StatX(AtCurrentDirectory, path, 0, StatXType, out StatXBuffer buffer) != 0 || (buffer.Mask & StatXType) == 0) return false;
            mode = buffer.Mode;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            statXMissing = true;
            return false;
        }
    }

    /// <summary>The head of <c>struct statx</c> (256 bytes in all; the same layout on every Linux architecture).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatXBuffer
    {
        [FieldOffset(0)]
        public uint Mask;

        [FieldOffset(28)]
        public ushort Mode;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int directoryDescriptor, string path, int flags, uint mask, out StatXBuffer buffer);
}
