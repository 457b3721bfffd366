namespace NormSharp;

// The fixed-order combine: the partial results of the work items added in an order set by the shape alone.
internal readonly partial record struct NormLayout
{
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

        // SampleBlock(c · itemsPerChannel + k) covers the samples [k · planesPerItem, min(Batch, (k + 1) · planesPerItem)):
        // the same counts, without SampleBlock's divisions per item.
        int planesPerItem = PlanesPerItem, itemsPerChannel = (Batch + planesPerItem - 1) / planesPerItem;
        for (int c = 0; c < channels; c++)
        {
            int first = c * itemsPerChannel;
            Kernels.Moments total = partials[first];
            double count = (double)Math.Min(Batch, planesPerItem) * Spatial;
            for (int item = first + 1; item < first + itemsPerChannel; item++)
            {
                int firstSample = (item - first) * planesPerItem, endSample = Math.Min(Batch, firstSample + planesPerItem);
                double partCount = (double)(endSample - firstSample) * Spatial;
                total = Kernels.ShiftedMoments.Merge(total, count, partials[item], partCount);
                count += partCount;
            }

            totals.Set(c, total);
        }
    }
}
