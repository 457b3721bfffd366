using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace NormSharp.TorchSharpSupport;

/// <summary>
/// Makes TorchSharp 0.107 load on Debian 12, before the first TorchSharp call.
/// </summary>
/// <remarks>
/// TorchSharp's wrapper <c>libLibTorchSharp.so</c> was linked against a newer libstdc++ and requires
/// the version <c>GLIBCXX_3.4.32</c>, which Debian 12's libstdc++ (up to 3.4.30) lacks. Only one
/// symbol carries that version and no relocation uses it, so the requirement can be marked weak:
/// in the ELF section <c>.gnu.version_r</c> (SHT_GNU_verneed), the <c>Elf64_Vernaux</c> entry named
/// <c>GLIBCXX_3.4.32</c> gets the flag VER_FLG_WEAK (0x2), and the dynamic loader then accepts the
/// missing version. This patches the copy in the test's output folder, the one .NET loads; it runs
/// only on Linux, only when the system libstdc++ lacks the version, and only once per file. Linked into
/// every project that calls TorchSharp (the oracle tests, the benchmarks), where it runs as a module initializer.
/// </remarks>
internal static class TorchSharpLoader
{
    private const string MissingVersion = "GLIBCXX_3.4.32";
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    [ModuleInitializer]
    internal static void PatchBeforeFirstUse()
    {
        if (!OperatingSystem.IsLinux() || SystemLibStdCxxHas(MissingVersion)) return;
        foreach (string path in Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories))
            MarkVersionWeak(path, MissingVersion);
    }

    private static bool SystemLibStdCxxHas(string version)
    {
        string[] candidates = ["/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6"];
        string? library = candidates.FirstOrDefault(File.Exists);
        if (library is null) return false;
        byte[] bytes = File.ReadAllBytes(library);
        return bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(version + "\0")) >= 0;
    }

    /// <summary>Sets VER_FLG_WEAK on the version requirement named <paramref name="version"/>; returns whether the file changed.</summary>
    internal static bool MarkVersionWeak(string path, string version)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2)
            return false; // not a 64-bit ELF file
        ReadOnlySpan<byte> span = elf;
        ulong sectionTable = BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int entrySize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);

        for (int s = 0; s < sectionCount; s++)
        {
            ReadOnlySpan<byte> header = span.Slice((int)sectionTable + s * entrySize, entrySize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != ShtGnuVerneed) continue;
            int offset = (int)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..]);
            int needCount = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x2C..]);
            int link = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]);
            int strings = (int)BinaryPrimitives.ReadUInt64LittleEndian(span[((int)sectionTable + link * entrySize + 0x18)..]);

            int need = offset;
            for (int i = 0; i < needCount; i++)
            {
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(span[(need + 2)..]);
                int aux = need + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(need + 8)..]);
                for (int j = 0; j < auxCount; j++)
                {
                    int name = strings + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 8)..]);
                    int end = span[name..].IndexOf((byte)0);
                    if (Encoding.ASCII.GetString(span.Slice(name, end)) == version)
                    {
                        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(aux + 4)..]);
                        if ((flags & VerFlagWeak) != 0) return false;
                        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
                        file.Position = aux + 4;
                        Span<byte> patched = stackalloc byte[2];
                        BinaryPrimitives.WriteUInt16LittleEndian(patched, (ushort)(flags | VerFlagWeak));
                        file.Write(patched);
                        return true;
                    }

                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 12)..]);
                }

                need += (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(need + 12)..]);
            }
        }

        return false;
    }
}
