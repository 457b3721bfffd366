namespace NormSharp;

// How work is cut: items of about ItemElements elements, fixed by the shape alone (never by the thread count).
internal readonly partial record struct NormLayout
{
    /// <summary>Elements per work item: enough to amortize a hand-off, small enough to split a large channel.</summary>
    public const int ItemElements = 1 << 16;

    /// <summary>Inputs of fewer values than this run on the calling thread: waking a helper costs more than the work.</summary>
    public const int SmallElements = 1 << 14;

    /// <summary>Inputs below this many values run on the calling thread (<see cref="SmallElements"/>; settable for the
    /// benchmarks' before/after runs).</summary>
    internal static int SerialBelowElements { get; set; } = SmallElements;

    /// <summary>Whether the whole input is small enough to run on the calling thread (the results do not depend on it).</summary>
    public bool IsSmall => (long)Batch * Channels * Spatial < SerialBelowElements;

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
        int rowsPerItem = RowsPerItem; // one division, not two
        int first = index * rowsPerItem;
        return (first, Math.Min(rowsPerItem, RowCount - first));
    }

    /// <summary>Planes layout, elementwise passes and large-plane reductions: the (n, c) planes [First, End) of item <paramref name="index"/>.</summary>
    public (int First, int End) PlaneBlock(int index)
    {
        int planesPerItem = PlanesPerItem; // one division, not two
        int first = index * planesPerItem;
        return (first, Math.Min(Batch * Channels, first + planesPerItem));
    }

    /// <summary>Planes layout, small-plane reductions: the channel and the samples [FirstSample, EndSample) of item <paramref name="index"/>.</summary>
    public (int Channel, int FirstSample, int EndSample) SampleBlock(int index)
    {
        // PlanesPerItem and ItemsPerChannel once each (they are divisions), the same values.
        int planesPerItem = PlanesPerItem, itemsPerChannel = (Batch + planesPerItem - 1) / planesPerItem;
        if (itemsPerChannel == 1) return (index, 0, Math.Min(Batch, planesPerItem)); // index mod 1 and index / 1, without dividing
        int first = index % itemsPerChannel * planesPerItem;
        return (index / itemsPerChannel, first, Math.Min(Batch, first + planesPerItem));
    }
}
