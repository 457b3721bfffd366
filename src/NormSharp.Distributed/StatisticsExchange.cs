using System.Globalization;
using System.Numerics;

namespace NormSharp.Distributed;

/// <summary>
/// One <see cref="SyncBatchNorm{T}"/> layer's exchange over its process group. Before each operation every process
/// gathers a small header (operation, channel count, the input's element type, flags, eps, momentum) and checks that all agree, so
/// that processes that disagree fail alike instead of waiting or computing with another layer's numbers; then the
/// forward gathers (mean, m2, count) from every process and combines them in rank order, and the backward all-reduces
/// (Σ dy, Σ dy·(x - mean)). Buffers are kept between calls: nothing is allocated per call in steady state.
/// </summary>
/// <typeparam name="T">The layer's element type.</typeparam>
internal sealed class StatisticsExchange<T> : IBatchStatisticsExchange
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // Header fields, in order.
    private const int Operation = 0, Channels = 1, ElementType = 2, Affine = 3, TrackRunningStats = 4, HasWeight = 5,
                      HasRunningStatistics = 6, Eps = 7, Momentum = 8, HeaderLength = 9;

    private const double Forward = 1, Backward = 2, Failed = 3;

    private static readonly string[] FieldNames =
        ["operation", "channel count", "element type", "Affine", "TrackRunningStats", "weight and bias", "running statistics", "eps", "momentum"];

    private readonly SyncBatchNorm<T> layer;

    // The element type of the call in progress's input: T, or Half or BFloat16 in a float layer's mixed-precision call.
    private Type inputType = typeof(T);
    private readonly double[] header = new double[HeaderLength];
    private double[] headers = [], send = [], received = [];

    /// <summary>The exchange of <paramref name="layer"/> over <paramref name="group"/>.</summary>
    public StatisticsExchange(SyncBatchNorm<T> layer, IProcessGroup group)
    {
        this.layer = layer;
        Group = group;
    }

    /// <summary>The processes whose batches form one batch.</summary>
    public IProcessGroup Group { get; }

    /// <inheritdoc/>
    public int Processes => Group.Size;

    /// <inheritdoc/>
    public void BeginCall<TInput>() => inputType = typeof(TInput);

    /// <inheritdoc/>
    public void CombineStatistics(Span<double> mean, Span<double> m2, ref long count)
    {
        int channels = mean.Length, size = Group.Size, row = 2 * channels + 1;
        AgreeOn(Forward, channels);

        Span<double> mine = Buffer(ref send, row);
        mean.CopyTo(mine);
        m2.CopyTo(mine[channels..]);
        mine[2 * channels] = count;
        Span<double> all = Buffer(ref received, size * row);
        Group.AllGather(mine, all);

        // The combine in rank order (PyTorch's batch_norm_gather_stats_with_counts, with m2 gathered instead of
        // recomputed from invstd and eps): the same operations in the same order on every process.
        long total = 0;
        for (int j = 0; j < size; j++) total += (long)all[j * row + 2 * channels];
        if (total == 1)
            throw new ArgumentException(
                $"Expected more than 1 value per channel when training, got input size 1 (the batches of all {size} processes together)");
        for (int c = 0; c < channels; c++)
        {
            double n = 0, average = 0, sum = 0;
            for (int j = 0; j < size; j++)
            {
                double countJ = all[j * row + 2 * channels];
                if (countJ == 0) continue;
                double meanJ = all[j * row + c], m2J = all[j * row + channels + c];
                double f = 1.0 / (n + countJ);
                double delta = average - meanJ;
                sum += m2J + delta * delta * n * countJ * f;
                average = n * f * average + countJ * f * meanJ;
                n += countJ;
            }

            mean[c] = average;
            m2[c] = sum;
        }

        count = total;
    }

    /// <inheritdoc/>
    public void SumGradientStatistics(Span<double> sumDy, Span<double> sumDyXmu)
    {
        int channels = sumDy.Length;
        AgreeOn(Backward, channels);
        Span<double> sums = Buffer(ref send, 2 * channels);
        sumDy.CopyTo(sums);
        sumDyXmu.CopyTo(sums[channels..]);
        Group.AllReduceSum(sums);
        sums[..channels].CopyTo(sumDy);
        sums[channels..].CopyTo(sumDyXmu);
    }

    /// <inheritdoc/>
    public void Fail(Exception exception) => Gather(Failed, layer.NumFeatures);

    /// <summary>Gathers every process's header and throws, alike on every process, unless all agree.</summary>
    private void AgreeOn(double operation, int channels)
    {
        Span<double> all = Gather(operation, channels);
        int size = Group.Size;
        for (int j = 0; j < size; j++)
        {
            if (all[j * HeaderLength + Operation] == Failed)
                throw new InvalidOperationException(
                    $"SyncBatchNorm: process {j} of {size} failed its {Describe(operation)} before the exchange (its own exception says why); " +
                    "nothing changed on any process.");
        }

        for (int field = 0; field < HeaderLength; field++)
        {
            double first = all[field];
            for (int j = 1; j < size; j++)
            {
                double value = all[j * HeaderLength + field];
                if (value.Equals(first)) continue;
                var values = new string[size];
                for (int r = 0; r < size; r++) values[r] = $"process {r}: {Format(field, all[r * HeaderLength + field])}";
                string detail = string.Join(", ", values);
                throw new InvalidOperationException(field == Operation
                    ? $"SyncBatchNorm: the processes are not running the same operation ({detail}); every process must call Forward and Backward on its " +
                      "SyncBatchNorm layers in the same order, in training mode. Nothing changed."
                    : $"SyncBatchNorm: the processes' layers disagree on the {FieldNames[field]} ({detail}). Nothing changed.");
            }
        }
    }

    private Span<double> Gather(double operation, int channels)
    {
        header[Operation] = operation;
        header[Channels] = channels;
        header[ElementType] = ElementTypeCode(inputType);
        header[Affine] = layer.Affine ? 1 : 0;
        header[TrackRunningStats] = layer.TrackRunningStats ? 1 : 0;
        header[HasWeight] = layer.Weight is null ? 0 : 1;
        header[HasRunningStatistics] = layer.RunningMean is null ? 0 : 1;
        header[Eps] = layer.Eps;
        header[Momentum] = layer.Momentum ?? -1;
        Span<double> all = Buffer(ref headers, Group.Size * HeaderLength);
        Group.AllGather(header, all);
        return all;
    }

    /// <summary>The element type of a call's input in the header: its bits (float 32, double 64, half 16), bfloat16 17.</summary>
    private static double ElementTypeCode(Type type) =>
        type == typeof(float) ? 32 : type == typeof(double) ? 64 : type == typeof(Half) ? 16 : type == typeof(BFloat16) ? 17 : -1;

    private static string Describe(double operation) => operation == Forward ? "forward" : operation == Backward ? "backward" : "call";

    private static string Format(int field, double value) => field switch
    {
        Operation => value == Forward ? "Forward" : value == Backward ? "Backward" : "a failed call",
        ElementType => value switch { 32 => "float", 64 => "double", 16 => "half", 17 => "bfloat16", _ => "unknown" },
        Affine or TrackRunningStats or HasWeight or HasRunningStatistics => value == 1 ? "true" : "false",
        Momentum when value < 0 => "null",
        _ => value.ToString(CultureInfo.InvariantCulture),
    };

    private static Span<double> Buffer(ref double[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new double[length];
        return buffer.AsSpan(0, length);
    }
}
