using System.Globalization;
using System.Runtime.InteropServices;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// Memory from <c>mmap</c> whose pages right before and right after the data are <c>PROT_NONE</c>: reading or writing
/// one byte past either end of the data faults, which takes the test host down. A span placed so that it ends exactly
/// at the guard page (or starts exactly after the one before) turns any over-read or over-write of it into a crash.
/// Linux only (the x86-64 and arm64 values of the mmap flags).
/// </summary>
public sealed unsafe partial class GuardedMemory : IDisposable
{
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20;

    private readonly nint mapping;
    private readonly nuint mappingLength;

    /// <summary>Maps <paramref name="dataPages"/> readable and writable pages between two guard pages.</summary>
    public GuardedMemory(int dataPages = 2)
    {
        PageSize = Environment.SystemPageSize;
        DataLength = dataPages * PageSize;
        mappingLength = (nuint)((dataPages + 2) * PageSize);
        mapping = Mmap(0, mappingLength, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (mapping == -1) throw new InvalidOperationException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
        if (Mprotect(mapping, (nuint)PageSize, ProtNone) != 0 || Mprotect(DataStart + DataLength, (nuint)PageSize, ProtNone) != 0)
            throw new InvalidOperationException($"mprotect failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public int PageSize { get; }

    /// <summary>Bytes between the two guard pages.</summary>
    public int DataLength { get; }

    /// <summary>The first byte after the leading guard page.</summary>
    public nint DataStart => mapping + PageSize;

    /// <summary>The first byte of the trailing guard page.</summary>
    public nint GuardAfter => DataStart + DataLength;

    /// <summary><paramref name="length"/> values whose last one ends at the trailing guard page (or, with
    /// <paramref name="atStart"/>, whose first one starts right after the leading guard page), filled with
    /// <paramref name="values"/> (repeated) or left as they are.</summary>
    public Span<T> Place<T>(int length, bool atStart, ReadOnlySpan<T> values = default) where T : unmanaged
    {
        if (length * sizeof(T) > DataLength) throw new ArgumentOutOfRangeException(nameof(length));
        nint start = atStart ? DataStart : GuardAfter - length * sizeof(T);
        var span = new Span<T>((void*)start, length);
        for (int i = 0; i < length && !values.IsEmpty; i++) span[i] = values[i % values.Length];
        return span;
    }

    /// <summary>The permissions /proc/self/maps lists for the page holding <paramref name="address"/> ("---p" for a guard).</summary>
    public static string PermissionsAt(nint address)
    {
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] range = fields[0].Split('-');
            long start = long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            long end = long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (address >= start && address < end) return fields[1];
        }

        return "unmapped";
    }

    public void Dispose() => _ = Munmap(mapping, mappingLength);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fileDescriptor, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);
}

/// <summary>A fact that runs on Linux only (it needs mmap and /proc), and says so elsewhere.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "needs Linux (mmap, mprotect, /proc/self/maps)";
    }
}
