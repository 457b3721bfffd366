using System.Runtime.InteropServices;

namespace NormSharp.Serialization;

/// <summary>
/// What a path names, learned without opening it: open(2) on a FIFO that has no writer blocks forever, and a device such as
/// <c>/dev/zero</c> never ends, so the reader must refuse them before it opens anything.
/// </summary>
/// <remarks>
/// .NET reports FIFOs, devices and sockets as <see cref="FileAttributes.Normal"/> files of length 0, so on Linux the type
/// comes from <c>statx(2)</c>, whose structure has one layout on every architecture. Elsewhere (or where the C library
/// lacks <c>statx</c>) only directories are recognized.
/// </remarks>
public static partial class FileKind
{
    /// <summary>The types of file a path can name.</summary>
    public enum Type
    {
        /// <summary>A regular file, or a type this platform cannot tell (opened as a file).</summary>
        RegularOrUnknown,

        /// <summary>A directory.</summary>
        Directory,

        /// <summary>A FIFO (named pipe).</summary>
        Fifo,

        /// <summary>A character device, e.g. <c>/dev/zero</c>.</summary>
        CharacterDevice,

        /// <summary>A block device, e.g. a disk.</summary>
        BlockDevice,

        /// <summary>A Unix domain socket.</summary>
        Socket,
    }

    private const int AtCurrentDirectory = -100;
    private const uint StatXType = 0x1;
    private const int TypeMask = 0xF000, FifoBits = 0x1000, CharacterDeviceBits = 0x2000, DirectoryBits = 0x4000,
                      BlockDeviceBits = 0x6000, SocketBits = 0xC000;

    private static bool statXMissing;

    /// <summary>The type of file <paramref name="path"/> names (symbolic links followed, as open(2) follows them); readers
    /// of other checkpoint formats use it to refuse special files before opening them.</summary>
    /// <param name="path">Any path; a missing one is <see cref="Type.RegularOrUnknown"/> (opening it then reports that).</param>
    public static Type Of(string path)
    {
        if (OperatingSystem.IsLinux() && TryStatXMode(path, out int mode))
        {
            return (mode & TypeMask) switch
            {
                DirectoryBits => Type.Directory,
                FifoBits => Type.Fifo,
                CharacterDeviceBits => Type.CharacterDevice,
                BlockDeviceBits => Type.BlockDevice,
                SocketBits => Type.Socket,
                _ => Type.RegularOrUnknown,
            };
        }

        return System.IO.Directory.Exists(path) ? Type.Directory : Type.RegularOrUnknown;
    }

    /// <summary>Throws <see cref="SafeTensorsException"/> unless <paramref name="path"/> is a regular file (or one this
    /// platform cannot tell apart from one).</summary>
    internal static void ThrowIfNotRegular(string path)
    {
        string? what = Of(path) switch
        {
            Type.Directory => "a directory, not a file",
            Type.Fifo => "a FIFO (named pipe), not a regular file; read a pipe with SafeTensors.Read(Stream)",
            Type.CharacterDevice => "a character device, not a regular file",
            Type.BlockDevice => "a block device, not a regular file",
            Type.Socket => "a socket, not a regular file",
            _ => null,
        };
        if (what is not null) throw new SafeTensorsException($"the path is {what}.");
    }

    /// <summary>The <c>stx_mode</c> of <c>statx(2)</c>; false when the call fails (the path is missing, say: opening it
    /// then reports the usual <see cref="IOException"/>) or the C library has no <c>statx</c>.</summary>
    private static bool TryStatXMode(string path, out int mode)
    {
        mode = 0;
        if (statXMissing) return false;
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
