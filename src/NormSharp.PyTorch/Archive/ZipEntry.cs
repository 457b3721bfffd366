namespace NormSharp.PyTorch.Archive;

/// <summary>One file of a zip archive, as its central directory describes it and its local header confirms.</summary>
/// <param name="Name">The entry's path inside the archive (checked: relative, no <c>..</c>, no backslash).</param>
/// <param name="Deflated">Whether the data is deflate-compressed (else stored, as PyTorch writes it).</param>
/// <param name="Crc32">The CRC-32 of the uncompressed bytes.</param>
/// <param name="CompressedLength">The bytes the data takes in the file.</param>
/// <param name="Length">The bytes of the uncompressed data.</param>
/// <param name="DataOffset">Where the data starts in the file (after the local header).</param>
internal sealed record ZipEntry(string Name, bool Deflated, uint Crc32, long CompressedLength, long Length, long DataOffset);
