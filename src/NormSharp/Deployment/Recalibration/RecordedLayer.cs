using System.Numerics;
using System.Numerics.Tensors;
using NormSharp.Kernels;

namespace NormSharp;

/// <summary>What a recalibration session does to one layer whatever its element type (see <see cref="RecordedLayer{T}"/>).</summary>
internal interface IRecordedLayer
{
    /// <summary>Puts the layer in recording state: training mode, BatchNorm's tracking off, the recorder set.</summary>
    void Attach();

    /// <summary>The new statistics and the report, computed without changing anything.</summary>
    RecalibratedLayer Plan();

    /// <summary>Writes what <see cref="Plan"/> computed, then restores the layer's flags and removes the recorder.</summary>
    void Apply();

    /// <summary>Restores everything as it was at <see cref="Attach"/> and removes the recorder.</summary>
    void Cancel();
}

/// <summary>
/// One layer under recalibration: its state when the session began, and the per-channel sums of every batch recorded since,
/// in double.
/// </summary>
/// <remarks>
/// <para>BatchNorm, per sample: each batch's (mean, m2, n) per channel is merged into the total with Chan et al.'s formula
/// (<see cref="ShiftedMoments.Merge(Moments, double, Moments, double)"/>, the kernels' own merge, means kept as double-double
/// pairs), so data with |mean| ≫ std keeps its variance; then running_mean = mean and running_var = M2 / (n - 1) over all
/// n values.</para>
/// <para>InstanceNorm, per sample: each (sample, channel) plane gives its mean and unbiased variance m2 / (S - 1), as
/// InstanceNorm's own update takes them; running_mean[c] and running_var[c] are their averages over every sample seen
/// (compensated sums).</para>
/// <para>Per batch: each batch's per-channel values (BatchNorm: mean and m2 / (n - 1); InstanceNorm: their averages over
/// the batch's samples) are blended as <c>update_bn</c> does: from mean 0 and variance 1, factor 1 / k for the k-th batch
/// (an empty batch counts, and blends nothing), each blend stored as T (<see cref="RunningStatistics.Blend"/>).</para>
/// </remarks>
internal sealed class RecordedLayer<T> : IRecordedLayer, IStatisticsRecorder
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly NormBase<T> layer;
    private readonly string name;
    private readonly RecalibrationWeighting weighting;
    private readonly bool perSampleStatistics;
    private readonly int channels;

    // The layer as the session found it.
    private readonly T[] oldMean, oldVar;
    private readonly long? oldCounter;
    private readonly bool wasTraining, wasTracking;

    // What the recorded forwards added up to.
    private long batches;
    private readonly long[] counts;
    private readonly Moments[] totals;                  // BatchNorm, per sample
    private readonly double[] meanSums, meanCarries, varSums, varCarries; // InstanceNorm, per sample (Neumaier sums)
    private readonly T[] blendedMean, blendedVar;       // per batch, update_bn's cumulative average

    private (T[] Mean, T[] Var, long? Counter)? planned;

    public RecordedLayer(NormBase<T> layer, string name, RecalibrationWeighting weighting)
    {
        this.layer = layer;
        this.name = name;
        this.weighting = weighting;
        perSampleStatistics = layer is InstanceNorm<T>;
        channels = (int)layer.RunningMean!.FlattenedLength;
        oldMean = Values(layer.RunningMean);
        oldVar = Values(layer.RunningVar!);
        oldCounter = layer.NumBatchesTracked;
        wasTraining = layer.Training;
        wasTracking = layer.TrackRunningStats;
        counts = new long[channels];
        totals = new Moments[channels];
        meanSums = new double[channels];
        meanCarries = new double[channels];
        varSums = new double[channels];
        varCarries = new double[channels];
        blendedMean = new T[channels];
        blendedVar = new T[channels];
        blendedMean.AsSpan().Fill(T.Zero);
        blendedVar.AsSpan().Fill(T.One);
    }

    public void Attach()
    {
        layer.Train();
        // BatchNorm hands its buffers on in training only while tracking: off, its forwards neither blend nor count.
        // (InstanceNorm hands them on whenever they exist; Apply and Cancel write them back either way.)
        if (!perSampleStatistics) layer.TrackRunningStats = false;
        layer.StatisticsRecorder = this;
    }

    public void Record(ReadOnlySpan<double> mean, ReadOnlySpan<double> m2, long count)
    {
        batches++;
        if (count == 0 || mean.Length == 0) return;
        if (perSampleStatistics) RecordPlanes(mean, m2, count);
        else RecordChannels(mean, m2, count);
    }

    private void RecordChannels(ReadOnlySpan<double> mean, ReadOnlySpan<double> m2, long count)
    {
        double inverseCountLessOne = 1.0 / (count - 1);
        for (int c = 0; c < channels; c++)
        {
            if (weighting == RecalibrationWeighting.PerBatch)
            {
                // The layer's own expressions with factor 1 / num_batches_tracked (BatchNormExecution's finish).
                double factor = 1.0 / batches;
                blendedMean[c] = RunningStatistics.Blend(blendedMean[c], mean[c], factor);
                blendedVar[c] = RunningStatistics.Blend(blendedVar[c], m2[c] * inverseCountLessOne, factor);
            }
            else
            {
                var part = new Moments(mean[c] * count, mean[c], 0.0, m2[c]);
                totals[c] = counts[c] == 0 ? part : ShiftedMoments.Merge(totals[c], counts[c], part, count);
            }

            counts[c] += count;
        }
    }

    private void RecordPlanes(ReadOnlySpan<double> mean, ReadOnlySpan<double> m2, long count)
    {
        int samples = mean.Length / channels;
        double inverseCountLessOne = 1.0 / (count - 1);
        for (int c = 0; c < channels; c++)
        {
            if (weighting == RecalibrationWeighting.PerBatch)
            {
                double meanSum = 0, varSum = 0;
                for (int n = 0; n < samples; n++)
                {
                    meanSum += mean[n * channels + c];
                    varSum += m2[n * channels + c] * inverseCountLessOne;
                }

                double factor = 1.0 / batches;
                blendedMean[c] = RunningStatistics.Blend(blendedMean[c], meanSum / samples, factor);
                blendedVar[c] = RunningStatistics.Blend(blendedVar[c], varSum / samples, factor);
            }
            else
            {
                for (int n = 0; n < samples; n++)
                {
                    Add(ref meanSums[c], ref meanCarries[c], mean[n * channels + c]);
                    Add(ref varSums[c], ref varCarries[c], m2[n * channels + c] * inverseCountLessOne);
                }
            }

            counts[c] += samples;
        }
    }

    /// <summary>Neumaier's compensated sum: sum + carry holds the exact total to about twice double's precision.</summary>
    private static void Add(ref double sum, ref double carry, double value)
    {
        double total = sum + value;
        carry += Math.Abs(sum) >= Math.Abs(value) ? (sum - total) + value : (value - total) + sum;
        sum = total;
    }

    public RecalibratedLayer Plan()
    {
        if (layer.RunningMean is null || layer.RunningVar is null || layer.RunningMean.FlattenedLength != channels || layer.RunningVar.FlattenedLength != channels)
            throw new InvalidOperationException(
                $"{Describe()} no longer has running statistics of {channels} channels (they were replaced during the session); " +
                "nothing was changed. Dispose the session to restore the layers.");

        var newMean = (T[])oldMean.Clone();
        var newVar = (T[])oldVar.Clone();
        var report = new RecalibratedChannel[channels];
        bool anyData = false;
        for (int c = 0; c < channels; c++)
        {
            if (counts[c] > 0)
            {
                anyData = true;
                (newMean[c], newVar[c]) = weighting == RecalibrationWeighting.PerBatch ? (blendedMean[c], blendedVar[c]) : PopulationOf(c);
            }

            report[c] = new RecalibratedChannel(name, c, counts[c], double.CreateTruncating(oldMean[c]), double.CreateTruncating(oldVar[c]),
                                                double.CreateTruncating(newMean[c]), double.CreateTruncating(newVar[c]));
        }

        long? counter = anyData && oldCounter is not null ? batches : oldCounter;
        planned = (newMean, newVar, counter);
        return new RecalibratedLayer(name, layer.ModuleName, batches, oldCounter, counter, report, null);
    }

    private (T Mean, T Var) PopulationOf(int c)
    {
        if (perSampleStatistics)
        {
            double samples = counts[c];
            return (T.CreateTruncating((meanSums[c] + meanCarries[c]) / samples), T.CreateTruncating((varSums[c] + varCarries[c]) / samples));
        }

        (double mean, double varSum) = ShiftedMoments.MeanAndVarSum(totals[c], counts[c]);
        return (T.CreateTruncating(mean), T.CreateTruncating(varSum / (counts[c] - 1)));
    }

    public void Apply()
    {
        var (mean, variance, counter) = planned ?? throw new InvalidOperationException("Plan first.");
        Write(mean, variance, counter);
    }

    public void Cancel() => Write(oldMean, oldVar, oldCounter);

    private void Write(T[] mean, T[] variance, long? counter)
    {
        layer.StatisticsRecorder = null;
        if (layer.RunningMean is { } runningMean && runningMean.FlattenedLength == channels) Store(mean, runningMean);
        if (layer.RunningVar is { } runningVar && runningVar.FlattenedLength == channels) Store(variance, runningVar);
        layer.NumBatchesTracked = counter;
        layer.TrackRunningStats = wasTracking;
        layer.Train(wasTraining);
    }

    private string Describe() => name.Length == 0 ? $"the {layer.ModuleName}" : $"layer \"{name}\" ({layer.ModuleName})";

    private static T[] Values(Tensor<T> tensor)
    {
        var values = new T[tensor.FlattenedLength];
        tensor.FlattenTo(values);
        return values;
    }

    private static void Store(T[] values, Tensor<T> tensor) => TensorStorage.CopyInto(Tensor.Create(values, [values.Length]), tensor);
}
