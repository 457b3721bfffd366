using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// How an (N, C, *) tensor lies in memory, as the kernels see it: (N, C, S) planes (row-major, S &gt; 1), or
/// rows of C values (an (N, C) input, or channels-last (N, H, W, C) / (N, D, H, W, C) storage).
/// </summary>
/// <param name="Batch">N.</param>
/// <param name="Channels">C.</param>
/// <param name="Spatial">S, the product of the spatial sizes.</param>
/// <param name="IsRows">True when memory is N·S rows of C values.</param>
/// <param name="IsChannelsLast">True when the tensor is channels-last (so is the output).</param>
internal readonly record struct NormLayout(int Batch, int Channels, int Spatial, bool IsRows, bool IsChannelsLast)
{
    /// <summary>Elements per work item: enough to amortize a hand-off, small enough to split a large channel.</summary>
    public const int ItemElements = 1 << 16;

    /// <summary>Rows of C values in the rows layout (N·S).</summary>
    public int RowCount => Batch * Spatial;

    /// <summary>Planes layout: (n, c) planes per work item.</summary>
    public int PlanesPerItem => Math.Max(1, ItemElements / Math.Max(1, Spatial));

    /// <summary>Rows layout: rows per work item.</summary>
    public int RowsPerItem => Math.Max(1, ItemElements / Math.Max(1, Channels));

    /// <summary>
    /// Planes of at least this many values are reduced one by one in memory order (sequential streaming); smaller planes
    /// are reduced channel by channel over blocks of samples, where one kernel call covers many planes.
    /// </summary>
    public const int LargePlane = 256;

    /// <summary>Planes layout with small planes: reduction items per channel (blocks of samples).</summary>
    public int ItemsPerChannel => (Batch + PlanesPerItem - 1) / PlanesPerItem;

    /// <summary>Whether a planes reduction goes plane by plane in memory order (else channel by channel): large planes, or
    /// a batch of one (InstanceNorm's (1, N·C, *) view), where a channel is one plane and blocks of planes make fewer items.</summary>
    public bool ReducesPlaneByPlane => !IsRows && (Spatial >= LargePlane || Batch == 1);

    /// <summary>Work items of a per-channel reduction: blocks of consecutive planes (large planes), (channel, block of
    /// samples) (small planes), or blocks of rows.</summary>
    public int ReductionItems => IsRows || ReducesPlaneByPlane ? MapItems : Channels * ItemsPerChannel;

    /// <summary>Work items of an elementwise pass: blocks of planes, or blocks of rows.</summary>
    public int MapItems => IsRows ? (RowCount + RowsPerItem - 1) / RowsPerItem : (Batch * Channels + PlanesPerItem - 1) / PlanesPerItem;

    /// <summary>Rows layout: the rows work item <paramref name="index"/> covers.</summary>
    public (int First, int Count) RowBlock(int index)
    {
        int first = index * RowsPerItem;
        return (first, Math.Min(RowsPerItem, RowCount - first));
    }

    /// <summary>Planes layout, elementwise passes and large-plane reductions: the (n, c) planes [First, End) of item <paramref name="index"/>.</summary>
    public (int First, int End) PlaneBlock(int index)
    {
        int first = index * PlanesPerItem;
        return (first, Math.Min(Batch * Channels, first + PlanesPerItem));
    }

    /// <summary>Planes layout, small-plane reductions: the channel and the samples [FirstSample, EndSample) of item <paramref name="index"/>.</summary>
    public (int Channel, int FirstSample, int EndSample) SampleBlock(int index)
    {
        int first = index % ItemsPerChannel * PlanesPerItem;
        return (index / ItemsPerChannel, first, Math.Min(Batch, first + PlanesPerItem));
    }

    /// <summary>Backward (Σ dy and Σ (x - mean)·dy): doubles of partial sums a reduction keeps for the two sums: 2 per (n, c)
    /// plane (large planes), 2 per (channel, block of samples) (small planes), or 2 × C per row block.</summary>
    public int PartialsLength => IsRows ? ReductionItems * 2 * Channels : ReducesPlaneByPlane ? Batch * Channels * 2 : ReductionItems * 2;

    /// <summary>
    /// Backward: the two totals of channel c from the partials (<see cref="Kernels.BatchNormBackward"/>): for large planes,
    /// each plane's sums added in sample order; for small planes, the sample blocks' sums in block order; for rows, the
    /// row blocks' sums in block order. Fixed by the shape alone, so independent of the thread count.
    /// </summary>
    public unsafe (double SumDy, double DotP) CombinePartials(double* partials, int c)
    {
        double sumDy = 0, dotP = 0;
        if (IsRows)
        {
            int items = ReductionItems;
            for (int item = 0; item < items; item++)
            {
                double* partial = partials + (long)item * 2 * Channels;
                sumDy += partial[c];
                dotP += partial[Channels + c];
            }

            return (sumDy, dotP);
        }

        // Planes: channel c's partials are the pairs at c, C + c, 2C + c, ... (one per sample), or its block of consecutive
        // pairs (one per block of samples).
        (long first, long step, int count) = ReducesPlaneByPlane ? (c, Channels, Batch) : ((long)c * ItemsPerChannel, 1L, ItemsPerChannel);
        for (int i = 0; i < count; i++)
        {
            double* pair = partials + 2 * (first + i * step);
            sumDy += pair[0];
            dotP += pair[1];
        }

        return (sumDy, dotP);
    }

    /// <summary>Training statistics: the partial moments a reduction keeps (<see cref="Kernels.MomentSpans"/>, four doubles
    /// each): one per (row block, channel), per (n, c) plane, or per (channel, block of samples).</summary>
    public int MomentPartials => IsRows ? ReductionItems * Channels : ReducesPlaneByPlane ? Batch * Channels : ReductionItems;

    /// <summary>
    /// Merges the partial moments into each channel's total (<see cref="Kernels.ShiftedMoments"/>): row blocks in block
    /// order; planes in sample order; sample blocks in block order. Fixed by the shape alone, so independent of the
    /// thread count.
    /// </summary>
    public void CombineMoments(Kernels.MomentSpans partials, Kernels.MomentSpans totals)
    {
        int channels = Channels;
        if (IsRows || ReducesPlaneByPlane)
        {
            // Row blocks, or the planes of sample n: one group of C partials, each over the same count.
            int groups = IsRows ? ReductionItems : Batch;
            partials.Slice(0, channels).CopyTo(totals);
            double count = IsRows ? RowBlock(0).Count : Spatial;
            for (int group = 1; group < groups; group++)
            {
                double partCount = IsRows ? RowBlock(group).Count : Spatial;
                Kernels.ShiftedMoments.Merge(totals, count, partials.Slice(group * channels, channels), partCount);
                count += partCount;
            }

            return;
        }

        int itemsPerChannel = ItemsPerChannel;
        for (int c = 0; c < channels; c++)
        {
            int first = c * itemsPerChannel;
            Kernels.Moments total = partials[first];
            double count = (double)(SampleBlock(first).EndSample - SampleBlock(first).FirstSample) * Spatial;
            for (int item = first + 1; item < first + itemsPerChannel; item++)
            {
                (_, int firstSample, int endSample) = SampleBlock(item);
                double partCount = (double)(endSample - firstSample) * Spatial;
                total = Kernels.ShiftedMoments.Merge(total, count, partials[item], partCount);
                count += partCount;
            }

            totals.Set(c, total);
        }
    }

    /// <summary>Describes a tensor the kernels can read as it is; false for other strides (copy to row-major first).</summary>
    public static bool TryDescribe<T>(Tensor<T> tensor, out NormLayout layout)
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths;
        long spatial = 1;
        for (int d = 2; d < lengths.Length; d++) spatial *= lengths[d];
        int batch = (int)lengths[0], channels = (int)lengths[1];
        if (TensorStorage.IsRowMajor(tensor))
        {
            layout = new NormLayout(batch, channels, (int)spatial, spatial == 1, false);
            return true;
        }

        if (HasChannelsLastStrides(tensor))
        {
            layout = new NormLayout(batch, channels, (int)spatial, true, true);
            return true;
        }

        layout = default;
        return false;
    }

    /// <summary>
    /// Channels-last as PyTorch defines it for rank 4 and 5: memory ordered (N, spatial..., C), so the channel
    /// stride is 1 and the spatial dimensions are row-major over rows of C.
    /// </summary>
    public static bool HasChannelsLastStrides<T>(Tensor<T> tensor)
    {
        ReadOnlySpan<nint> lengths = tensor.Lengths, strides = tensor.Strides;
        if (lengths.Length is not (4 or 5)) return false;
        nint expected = 1;
        if (lengths[1] != 1 && strides[1] != expected) return false;
        expected *= lengths[1];
        for (int d = lengths.Length - 1; d >= 2; d--)
        {
            if (lengths[d] != 1 && strides[d] != expected) return false;
            expected *= lengths[d];
        }

        return lengths[0] == 1 || strides[0] == expected;
    }

    /// <summary>The strides of a channels-last tensor of these lengths (0 for a dimension of length 1, the form
    /// System.Numerics.Tensors requires).</summary>
    public static nint[] ChannelsLastStrides(ReadOnlySpan<nint> lengths)
    {
        var strides = new nint[lengths.Length];
        foreach (nint length in lengths)
            if (length == 0) return strides; // an empty tensor has nothing to address
        nint stride = 1;
        strides[1] = lengths[1] == 1 ? 0 : stride;
        stride *= lengths[1];
        for (int d = lengths.Length - 1; d >= 2; d--)
        {
            strides[d] = lengths[d] == 1 ? 0 : stride;
            stride *= lengths[d];
        }

        strides[0] = lengths[0] == 1 ? 0 : stride;
        return strides;
    }

    /// <summary>A new, uninitialized tensor with the same lengths and memory layout as <paramref name="like"/>.</summary>
    public Tensor<T> AllocateLike<T>(Tensor<T> like) =>
        IsChannelsLast ? Tensor.CreateFromShapeUninitialized<T>(like.Lengths, ChannelsLastStrides(like.Lengths))
                       : Tensor.CreateFromShapeUninitialized<T>(like.Lengths);

    /// <summary>Whether <paramref name="other"/> has these lengths and lies in memory the same way.</summary>
    public bool Matches<T>(Tensor<T> other, ReadOnlySpan<nint> lengths) =>
        other.Lengths.SequenceEqual(lengths) && (IsChannelsLast ? HasChannelsLastStrides(other) : TensorStorage.IsRowMajor(other));
}
