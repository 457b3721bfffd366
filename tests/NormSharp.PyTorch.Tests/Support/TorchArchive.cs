using System.IO.Compression;
using System.Text;

namespace NormSharp.PyTorch.Tests.Support;

/// <summary>Writes torch.save-style zip archives: <c>ARCHIVE/data.pkl</c>, <c>ARCHIVE/data/KEY</c> for each storage,
/// <c>ARCHIVE/version</c> and <c>ARCHIVE/byteorder</c>, stored (as PyTorch writes them) or deflated.</summary>
internal static class TorchArchive
{
    public static byte[] Create(byte[] pickle, IEnumerable<(string Key, byte[] Data)> storages, string archive = "archive",
                                bool deflate = false, string? byteOrder = "little", string? version = "3")
    {
        using var memory = new MemoryStream();
        Write(memory, pickle, storages.Select(s => (s.Key, (Action<Stream>)(stream => stream.Write(s.Data)))), archive, deflate, byteOrder, version);
        return memory.ToArray();
    }

    public static void Write(Stream target, byte[] pickle, IEnumerable<(string Key, Action<Stream> WriteData)> storages, string archive = "archive",
                             bool deflate = false, string? byteOrder = "little", string? version = "3")
    {
        CompressionLevel level = deflate ? CompressionLevel.Optimal : CompressionLevel.NoCompression;
        using var zip = new ZipArchive(target, ZipArchiveMode.Create, leaveOpen: true);
        void Add(string name, Action<Stream> write)
        {
            using Stream stream = zip.CreateEntry($"{archive}/{name}", level).Open();
            write(stream);
        }

        Add("data.pkl", s => s.Write(pickle));
        if (byteOrder is not null) Add("byteorder", s => s.Write(Encoding.ASCII.GetBytes(byteOrder)));
        foreach (var (key, write) in storages) Add($"data/{key}", write);
        if (version is not null) Add("version", s => s.Write(Encoding.ASCII.GetBytes(version + "\n")));
    }

    /// <summary>The little-endian bytes of values.</summary>
    public static byte[] Bytes<T>(params T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
