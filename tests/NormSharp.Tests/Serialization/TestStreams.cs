namespace NormSharp.Tests.Serialization;

/// <summary>A non-seekable stream over <paramref name="prefix"/>, then (when <paramref name="endless"/>) <paramref name="fill"/>
/// forever, handing out at most <paramref name="chunk"/> bytes per read, as a pipe does.</summary>
internal sealed class PipeLikeStream(byte[] prefix, int chunk = int.MaxValue, bool endless = false, byte fill = 0) : Stream
{
    private long position;

    /// <summary>Bytes handed out so far.</summary>
    public long Delivered => position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, chunk);
        if (position < prefix.Length) n = (int)Math.Min(n, prefix.Length - position);
        else if (!endless) return 0;

        for (int i = 0; i < n; i++) buffer[i] = position + i < prefix.Length ? prefix[position + i] : fill;
        position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
