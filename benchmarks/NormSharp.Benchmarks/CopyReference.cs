using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace NormSharp.Benchmarks;

/// <summary>
/// The bandwidth references: a copy of the same bytes as a kernel reads and writes, cut into the same 64K-element items and
/// run on the same worker pool as the kernels (so "threaded like the kernel"), with ordinary stores or non-temporal ones
/// (which skip reading the destination's lines into the cache: the most a read-x, write-y pass can move).
/// </summary>
public sealed unsafe class CopyReference : IDisposable
{
    private const int ItemElements = NormLayout.ItemElements;
    private readonly float* source, target;
    private readonly long length;
    private readonly Work work;

    public CopyReference(ReadOnlySpan<float> values)
    {
        length = values.Length;
        source = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, length) * sizeof(float), 64);
        target = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, length) * sizeof(float), 64);
        values.CopyTo(new Span<float>(source, values.Length));
        new Span<float>(target, values.Length).Clear();
        work = new Work(this);
    }

    /// <summary>Items of the copy (about 64K elements each, as the kernels' items).</summary>
    private int Items => (int)((length + ItemElements - 1) / ItemElements);

    public void Copy()
    {
        work.NonTemporal = false;
        WorkerPool.For(Items, work);
    }

    public void CopyNonTemporal()
    {
        work.NonTemporal = true;
        WorkerPool.For(Items, work);
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(source);
        NativeMemory.AlignedFree(target);
    }

    private void CopyItem(int index, bool nonTemporal)
    {
        long first = (long)index * ItemElements;
        int count = (int)Math.Min(ItemElements, length - first);
        float* from = source + first, to = target + first;
        if (!nonTemporal || !Sse.IsSupported)
        {
            new ReadOnlySpan<float>(from, count).CopyTo(new Span<float>(to, count));
            return;
        }

        int i = 0;
        if (Avx512F.IsSupported)
            for (; i <= count - 16; i += 16) Avx512F.StoreAlignedNonTemporal(to + i, Avx512F.LoadAlignedVector512(from + i));
        else if (Avx.IsSupported)
            for (; i <= count - 8; i += 8) Avx.StoreAlignedNonTemporal(to + i, Avx.LoadAlignedVector256(from + i));
        else
            for (; i <= count - 4; i += 4) Sse.StoreAlignedNonTemporal(to + i, Sse.LoadAlignedVector128(from + i));
        for (; i < count; i++) to[i] = from[i];
        if (i > 0) Sse.StoreFence();
    }

    private sealed class Work(CopyReference owner) : IParallelWork
    {
        public bool NonTemporal;

        public void Run(int index) => owner.CopyItem(index, NonTemporal);
    }
}
