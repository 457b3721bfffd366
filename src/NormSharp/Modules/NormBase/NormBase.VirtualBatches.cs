using System.Buffers;
using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

// Ghost batch normalization (Hoffer, Hubara and Soudry, 2017): a training forward split into virtual batches along the
// batch dimension, each one a forward of its own. It is the rule of the common implementations (TabNet's and Ludwig's
// GhostBatchNorm: torch.cat([bn(chunk) for chunk in x.split(k)])), so a model ported from them gives the same numbers.
public abstract partial class NormBase<T>
{
    private int? virtualBatchSize;

    // Rollback copies of the running statistics while a split forward runs, kept from call to call.
    private T[] rollbackMean = [], rollbackVar = [];

    // Backward of a split forward: the parameter gradients summed over the virtual batches, per channel.
    private double[] virtualWeightSums = [], virtualBiasSums = [];

    /// <summary>
    /// Ghost batch normalization: with <c>VirtualBatchSize = k</c>, a training forward on N &gt; k samples is the forward of
    /// each virtual batch of k samples in turn (samples 0..k-1, k..2k-1, ...; the last holds the remaining N mod k when k
    /// does not divide N), outputs side by side: each virtual batch is normalized with its own statistics, the running
    /// statistics are updated once per virtual batch, and num_batches_tracked goes up once per virtual batch.
    /// <c>Backward</c> differentiates each virtual batch with its own statistics; the parameter gradients are their sum.
    /// Null (the default): the batch is one batch, PyTorch's behaviour.
    /// </summary>
    /// <remarks>
    /// <para>This is <c>torch.cat([bn(c) for c in x.split(k)])</c>, the rule of TabNet's and Ludwig's <c>GhostBatchNorm</c>
    /// (TabNet sizes its chunks with <c>x.chunk(ceil(N / k))</c>, which can make them smaller than k: 9 samples with k = 4
    /// give 3, 3, 3 there and 4, 4, 1 here). A virtual batch with one value per channel (a last virtual batch of one sample in
    /// a (N, C) input) follows <see cref="SmallBatchPolicy"/>: PyTorch's error by default, or the running statistics with
    /// <see cref="NormSharp.SmallBatchPolicy.UseRunningStatistics"/>. Every virtual batch is checked before the first runs,
    /// and a forward that throws part-way restores the running statistics and the counter, so a failed forward changes
    /// nothing.</para>
    /// <para>Evaluation forwards, inputs without a batch dimension and batches of at most k samples are not split. With
    /// InstanceNorm the statistics are each sample's anyway; the split changes only how often the running statistics are
    /// updated. A SyncBatchNorm forward over several processes refuses it (each process would split its own share).
    /// Runtime only: not in the state dict.</para>
    /// </remarks>
    /// <example><code>bn.VirtualBatchSize = 32;   // a training batch of 256 is normalized as 8 virtual batches of 32</code></example>
    /// <exception cref="ArgumentOutOfRangeException">The value is 0 or negative; nothing changes.</exception>
    public int? VirtualBatchSize
    {
        get => virtualBatchSize;
        set
        {
            if (value is <= 0)
                throw new ArgumentOutOfRangeException(nameof(VirtualBatchSize), value,
                    $"VirtualBatchSize must be a positive number of samples (or null for no virtual batches), not {value}.");
            virtualBatchSize = value;
        }
    }

    /// <summary>Whether an input of this shape has a batch dimension (InstanceNorm's unbatched inputs do not).</summary>
    private protected virtual bool HasBatchDimension(ReadOnlySpan<nint> shape) => shape.Length >= 2;

    /// <summary>The virtual batch size a forward on this shape splits by, or 0 when it is one batch.</summary>
    private int VirtualBatchSplit(ReadOnlySpan<nint> shape) =>
        Training && virtualBatchSize is int k && AcceptedRanks.Contains(shape.Length) && HasBatchDimension(shape) && shape[0] > k ? k : 0;

    /// <summary>The output tensor of a split forward without a destination: laid out as one forward's output would be.</summary>
    private protected virtual Tensor<TInput> AllocateOutputLike<TInput>(Tensor<TInput> input) where TInput : unmanaged =>
        Tensor.CreateFromShapeUninitialized<TInput>(input.Lengths);

    /// <summary>The rows [start, start + count) of <paramref name="tensor"/> along dim 0: a view of the same memory.</summary>
    private static Tensor<TInput> Rows<TInput>(Tensor<TInput> tensor, nint start, nint count)
    {
        var ranges = new NRange[tensor.Rank];
        ranges[0] = new NRange(start, start + count);
        for (int d = 1; d < ranges.Length; d++) ranges[d] = NRange.All;
        return tensor.Slice(ranges);
    }

    /// <summary>The shape of a virtual batch of <paramref name="rows"/> samples of an input of <paramref name="shape"/>.</summary>
    private static nint[] ShapeWithRows(ReadOnlySpan<nint> shape, nint rows)
    {
        nint[] part = shape.ToArray();
        part[0] = rows;
        return part;
    }

    /// <summary>A training forward split into virtual batches of <paramref name="size"/> samples (see
    /// <see cref="VirtualBatchSize"/>); every virtual batch's record goes into <paramref name="record"/>.</summary>
    private Tensor<TInput> ForwardVirtualBatches<TInput>(Tensor<TInput> input, Tensor<TInput>? destination, SavedForward<T> record, int size)
        where TInput : unmanaged
    {
        ReadOnlySpan<nint> shape = input.Lengths;
        nint samples = shape[0];
        int batches = (int)((samples + size - 1) / size);
        nint remainder = samples - (nint)(batches - 1) * size;

        // Every virtual batch's checks before the first one runs: a full one, and the last one when it is smaller.
        if (DecisionError(ShapeWithRows(shape, size)) is string error) throw new ArgumentException(error);
        if (remainder != size && DecisionError(ShapeWithRows(shape, remainder)) is string lastError)
            throw new ArgumentException(lastError + LastVirtualBatchNote(samples, size, remainder));
        if (destination is not null && !destination.Lengths.SequenceEqual(shape))
            throw new ArgumentException($"destination must have the input's shape {TorchMessages.FormatShape(shape)}.", nameof(destination));

        Tensor<TInput> output = destination ?? AllocateOutputLike(input);
        long? counter = NumBatchesTracked;
        SaveRunningStatistics();
        try
        {
            for (int b = 0; b < batches; b++)
            {
                nint start = (nint)b * size, rows = b == batches - 1 ? remainder : size;
                ForwardCore(Rows(input, start, rows), Rows(output, start, rows), record.Part(b));
            }
        }
        catch
        {
            RestoreRunningStatistics();
            NumBatchesTracked = counter;
            throw;
        }

        record.CompleteVirtualBatches(input, batches, size, output);
        return output;
    }

    /// <summary>The error a forward on an input of this shape would throw, from the layer's decision (no forward runs).</summary>
    private protected abstract string? DecisionError(ReadOnlySpan<nint> shape);

    /// <summary>The sentence after the error of a last virtual batch.</summary>
    private static string LastVirtualBatchNote(nint samples, int size, nint remainder) =>
        $" (the last virtual batch: VirtualBatchSize = {size} splits {samples} samples into virtual batches of {size} and a last one of {remainder}; " +
        "nothing changed)";

    /// <summary>The error of a synchronized forward (SyncBatchNorm over several processes) on a layer with a virtual batch size.</summary>
    private protected static string VirtualBatchesAcrossProcesses(int size, int processes) =>
        $"VirtualBatchSize = {size} cannot split a batch spread over {processes} processes (each process would split only its own share): " +
        "set VirtualBatchSize = null on a synchronized layer.";

    /// <summary>The plan of a forward on <paramref name="shape"/>: one batch's, or that of the virtual batches it is split into.</summary>
    private ForwardPlan PlanFor(ReadOnlySpan<nint> shape, LayerTensors tensors)
    {
        int size = VirtualBatchSplit(shape);
        if (size == 0) return ExplainCore(shape, tensors);

        nint samples = shape[0];
        int batches = (int)((samples + size - 1) / size);
        nint remainder = samples - (nint)(batches - 1) * size;
        ForwardPlan full = ExplainCore(ShapeWithRows(shape, size), tensors);
        ForwardPlan? last = remainder != size ? ExplainCore(ShapeWithRows(shape, remainder), tensors) : null;
        string? error = full.Error ?? (last?.Error is string lastError ? lastError + LastVirtualBatchNote(samples, size, remainder) : null);
        int counted = (full.IncrementsCounter ? batches - (last is null ? 0 : 1) : 0) + (last is { IncrementsCounter: true } ? 1 : 0);
        long? counterAfter = error is null && NumBatchesTracked is long before ? before + counted : NumBatchesTracked;

        string sizes = last is null ? $"{batches} of {size}" : $"{batches - 1} of {size} and a last one of {remainder}";
        // One virtual batch's reasons, less its counter sentence: the split's own sentence says how far the counter goes.
        var reasons = new List<string>(full.Reasons.Where(r => !r.Contains("num_batches_tracked goes from", StringComparison.Ordinal)))
        {
            $"VirtualBatchSize = {size}: the {samples} samples are normalized as {batches} virtual batches ({sizes}), one after " +
            "another, each with its own statistics as a forward of its own (the reasons above are one virtual batch's of " + size + ")" +
            (full.UpdatesRunningStatistics ? $"; the running statistics are updated once per virtual batch" : "") +
            (counted > 0 ? $"; num_batches_tracked goes from {NumBatchesTracked} to {NumBatchesTracked + counted}." : "."),
        };
        if (last is not null && (last.NormalizeWith != full.NormalizeWith || last.Error != full.Error || last.UpdatesRunningStatistics != full.UpdatesRunningStatistics))
            reasons.Add($"the last virtual batch ({remainder} sample{(remainder == 1 ? "" : "s")}) " + (last.Error is not null
                ? "makes the forward throw: " + last.Error
                : $"normalizes with {last.NormalizeWith.ToString().ToLowerInvariant()} statistics" +
                  (last.UpdatesRunningStatistics ? "." : " and updates no running statistic (" + string.Join(" ", last.Reasons.Where(r => r.Contains("Policy", StringComparison.Ordinal))) + ")")));
        if (error is not null && full.Error is null)
            reasons.Add("nothing changes, because the forward throws (every virtual batch is checked before the first runs).");

        return full with
        {
            InputShape = shape.ToArray().Select(l => (long)l).ToArray(),
            Error = error,
            CounterAfter = counterAfter,
            IncrementsCounter = error is null && counted > 0,
            UpdatesRunningStatistics = error is null && (full.UpdatesRunningStatistics || last is { UpdatesRunningStatistics: true }),
            VirtualBatchSize = size,
            VirtualBatches = batches,
            Reasons = reasons,
        };
    }

    private void SaveRunningStatistics()
    {
        if (RunningMean is not null) rollbackMean = Copy(RunningMean, rollbackMean);
        if (RunningVar is not null) rollbackVar = Copy(RunningVar, rollbackVar);

        static T[] Copy(Tensor<T> from, T[] into)
        {
            Span<T> values = TensorStorage.Span(from);
            if (into.Length < values.Length) into = new T[values.Length];
            values.CopyTo(into);
            return into;
        }
    }

    private void RestoreRunningStatistics()
    {
        if (RunningMean is not null) rollbackMean.AsSpan(0, (int)RunningMean.FlattenedLength).CopyTo(TensorStorage.Span(RunningMean));
        if (RunningVar is not null) rollbackVar.AsSpan(0, (int)RunningVar.FlattenedLength).CopyTo(TensorStorage.Span(RunningVar));
    }

    /// <summary>The backward of a split forward: each virtual batch with its own record, dx side by side, the parameter
    /// gradients summed over the virtual batches in double and added once.</summary>
    private Tensor<TInput>? BackwardVirtualBatches<TInput>(SavedForward<T> saved, Tensor<TInput> gradOutput, Tensor<TInput>? destination)
        where TInput : unmanaged
    {
        EnsureBackwardMatches<TInput>(saved, gradOutput);
        if (destination is not null && !destination.Lengths.SequenceEqual(saved.Shape))
            throw new ArgumentException($"destination must have the input's shape {TorchMessages.FormatShape(saved.Shape)}.", nameof(destination));
        (bool weightGradient, bool biasGradient) = ParameterGradientsWanted(saved);

        Tensor<TInput> dx = destination ?? AllocateGradientLike(saved, gradOutput);
        int channels = NumFeatures;
        if (virtualWeightSums.Length < channels)
        {
            double[] newWeight = new double[channels], newBias = new double[channels];
            (virtualWeightSums, virtualBiasSums) = (newWeight, newBias);
        }

        Span<double> weightTotal = virtualWeightSums.AsSpan(0, weightGradient ? channels : 0);
        Span<double> biasTotal = virtualBiasSums.AsSpan(0, biasGradient ? channels : 0);
        weightTotal.Clear();
        biasTotal.Clear();
        for (int b = 0; b < saved.PartCount; b++)
        {
            SavedForward<T> part = saved.Part(b);
            nint start = (nint)b * saved.PartRows, rows = part.Shape[0];
            Span<double> weightSums = GradientSums(part.Groups, weightGradient, bias: false), biasSums = GradientSums(part.Groups, biasGradient, bias: true);
            ComputeBackward(part, Rows(gradOutput, start, rows), Rows(dx, start, rows), null, weightSums, biasSums);
            for (int g = 0; g < weightSums.Length; g++) weightTotal[g % channels] += weightSums[g];
            for (int g = 0; g < biasSums.Length; g++) biasTotal[g % channels] += biasSums[g];
        }

        if (weightGradient) Weight!.Grad = Accumulate(Weight.Grad, weightTotal, channels);
        if (biasGradient) Bias!.Grad = Accumulate(Bias.Grad, biasTotal, channels);
        return dx;
    }

    /// <summary>dx of a split forward without a destination: laid out as the forward's output when dy is too (channels-last
    /// BatchNorm), row-major otherwise, as one backward's dx would be.</summary>
    private static Tensor<TInput> AllocateGradientLike<TInput>(SavedForward<T> saved, Tensor<TInput> gradOutput) where TInput : unmanaged =>
        saved.OutputChannelsLast && NormLayout.HasChannelsLastStrides(gradOutput) && !TensorStorage.IsRowMajor(gradOutput)
            ? Tensor.CreateFromShapeUninitialized<TInput>(saved.Shape, NormLayout.ChannelsLastStrides(saved.Shape))
            : Tensor.CreateFromShapeUninitialized<TInput>(saved.Shape);
}
