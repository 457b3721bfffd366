using System.Numerics;
using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// What a forward keeps for <c>Backward</c>: the input as the kernels read it, its shape, whether the statistics were the
/// input's own, and per group (the values one statistic is taken over: a channel for BatchNorm, a (sample, channel) plane
/// for InstanceNorm) the mean, invStd = 1 / sqrt(var + eps) and the weight applied.
/// </summary>
/// <remarks>
/// A layer holds two records: the published one (the last successful forward) and a spare that the next forward fills.
/// The spare is published only when that forward succeeds, so a forward that throws leaves Backward exactly as it was.
/// Arrays keep their capacity between forwards: inputs of alternating sizes allocate nothing once both records have
/// seen the largest.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
internal sealed class SavedForward<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private double[] mean = [], invStd = [], weight = [];
    private nint[] shape = new nint[8];
    private int rank;

    /// <summary>The number of groups of the forward this record describes.</summary>
    public int Groups { get; private set; }

    // The forward's input as the kernels read it (the caller's tensor, or a row-major copy of it): a Tensor<T>, or a
    // Tensor<Half> or Tensor<BFloat16> after a mixed-precision forward.
    private object? input;

    /// <summary>Whether the record holds a completed forward.</summary>
    public bool HasInput => input is not null;

    /// <summary>The forward's input's element type, or null before a forward completed.</summary>
    public Type? InputType => input?.GetType().GetGenericArguments()[0];

    /// <summary>The forward's input as the kernels read it, when its element type is <typeparamref name="TInput"/>; else null.</summary>
    public Tensor<TInput>? InputOf<TInput>() => input as Tensor<TInput>;

    /// <summary>The (1, N·C, *) planes layout InstanceNorm's kernels read the input as; null for BatchNorm.</summary>
    public NormLayout? GroupedLayout { get; private set; }

    /// <summary>True when the forward normalized with the input's own statistics.</summary>
    public bool BatchStatistics { get; private set; }

    /// <summary>The exchange the forward's statistics went through (a batch spread over several processes), or null.</summary>
    public IBatchStatisticsExchange? Exchange { get; private set; }

    /// <summary>The number of values each group's statistics were taken over (every process's, with an exchange).</summary>
    public long Count { get; private set; }

    /// <summary>Whether the forward had FreezeParameters: its backward adds no parameter gradients.</summary>
    public bool ParametersFrozen { get; set; }

    /// <summary>The caller's input shape.</summary>
    public ReadOnlySpan<nint> Shape => shape.AsSpan(0, rank);

    /// <summary>Per group: the mean the forward normalized with.</summary>
    public ReadOnlySpan<double> Mean => mean.AsSpan(0, Groups);

    /// <summary>Per group: 1 / sqrt(var + eps).</summary>
    public ReadOnlySpan<double> InvStd => invStd.AsSpan(0, Groups);

    /// <summary>Per group: the weight applied (weight[g mod C], or 1 without affine parameters).</summary>
    public ReadOnlySpan<double> Weight => weight.AsSpan(0, Groups);

    /// <summary>
    /// Starts filling the record for a forward of <paramref name="groups"/> groups; returns the arrays the kernels write
    /// the mean and invStd into (at least that long; only the first <paramref name="groups"/> values count).
    /// </summary>
    public (double[] Mean, double[] InvStd) Begin(int groups)
    {
        if (mean.Length < groups)
        {
            // Allocated before assignment: out of memory leaves the record as it was.
            double[] newMean = new double[groups], newInvStd = new double[groups], newWeight = new double[groups];
            (mean, invStd, weight) = (newMean, newInvStd, newWeight);
        }

        Groups = groups;
        input = null;
        PartCount = 0;
        return (mean, invStd);
    }

    /// <summary>Completes the record after the kernels ran: the input they read, the caller's shape, the statistics' source,
    /// and the weight per group (<paramref name="weightValues"/> of length C, read at g mod C; null for 1).</summary>
    /// <typeparam name="TInput">The input's element type (T, or Half or BFloat16 in mixed precision).</typeparam>
    /// <param name="kernelInput">The input as the kernels read it.</param>
    /// <param name="inputShape">The caller's input shape.</param>
    /// <param name="batchStatistics">Whether the input's own statistics normalized it.</param>
    /// <param name="groupedLayout">InstanceNorm's planes layout; null for BatchNorm.</param>
    /// <param name="weightValues">The (C) weight, or null for 1.</param>
    /// <param name="exchange">The exchange the statistics went through, or null.</param>
    /// <param name="count">The number of values per group's statistics (used with an exchange).</param>
    public void Complete<TInput>(Tensor<TInput> kernelInput, ReadOnlySpan<nint> inputShape, bool batchStatistics, NormLayout? groupedLayout,
                         Tensor<T>? weightValues, IBatchStatisticsExchange? exchange = null, long count = 0)
    {
        if (weightValues is null) weight.AsSpan(0, Groups).Fill(1.0);
        else
        {
            Span<T> values = TensorStorage.Span(weightValues);
            for (int g = 0; g < Groups; g++) weight[g] = double.CreateTruncating(values[g < values.Length ? g : g % values.Length]);
        }

        if (shape.Length < inputShape.Length) shape = new nint[inputShape.Length];
        inputShape.CopyTo(shape);
        rank = inputShape.Length;
        input = kernelInput;
        BatchStatistics = batchStatistics;
        GroupedLayout = groupedLayout;
        Exchange = exchange;
        Count = count;
        PartCount = 0;
    }

    // A forward split into virtual batches: one record per virtual batch, kept with their capacity.
    private SavedForward<T>[] parts = [];

    /// <summary>The number of virtual batches of a split forward (see <c>NormBase.VirtualBatchSize</c>); 0 for one batch.</summary>
    public int PartCount { get; private set; }

    /// <summary>The samples per virtual batch of a split forward (the last one may hold fewer).</summary>
    public nint PartRows { get; private set; }

    /// <summary>Whether a split forward's output was laid out channels-last (BatchNorm on a channels-last input).</summary>
    public bool OutputChannelsLast { get; private set; }

    /// <summary>The record of virtual batch <paramref name="index"/> of a split forward, to fill or to read.</summary>
    public SavedForward<T> Part(int index)
    {
        if (index >= parts.Length)
        {
            var grown = new SavedForward<T>[Math.Max(index + 1, 2 * parts.Length)];
            parts.CopyTo(grown, 0);
            parts = grown;
        }

        return parts[index] ??= new SavedForward<T>();
    }

    /// <summary>Completes the record of a split forward whose <paramref name="batches"/> virtual batches of
    /// <paramref name="rows"/> samples were recorded through <see cref="Part"/>.</summary>
    /// <typeparam name="TInput">The input's element type.</typeparam>
    /// <param name="wholeInput">The caller's input.</param>
    /// <param name="batches">The number of virtual batches.</param>
    /// <param name="rows">The samples per virtual batch.</param>
    /// <param name="output">The forward's output.</param>
    public void CompleteVirtualBatches<TInput>(Tensor<TInput> wholeInput, int batches, nint rows, Tensor<TInput> output)
    {
        Groups = 0;
        if (shape.Length < wholeInput.Rank) shape = new nint[wholeInput.Rank];
        wholeInput.Lengths.CopyTo(shape);
        rank = wholeInput.Rank;
        input = wholeInput;
        BatchStatistics = false;
        GroupedLayout = null;
        Exchange = null;
        Count = 0;
        PartCount = batches;
        PartRows = rows;
        OutputChannelsLast = NormLayout.HasChannelsLastStrides(output) && !TensorStorage.IsRowMajor(output);
    }
}
