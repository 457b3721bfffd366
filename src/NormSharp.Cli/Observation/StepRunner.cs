using System.Globalization;
using System.Numerics.Tensors;

namespace NormSharp.Cli.Observation;

/// <summary>Runs an <c>explain --steps</c> script on one real layer and records what each step did.</summary>
public static class StepRunner
{
    /// <summary>The most values one forward observes (2^24, 128 MB as double): the batch is drawn, copied and compared
    /// several times, and a script is for seeing behaviour, not for load.</summary>
    public const long MaxObservedValues = 1L << 24;

    /// <summary>
    /// Checks, before any layer or batch is allocated, that the layer's buffers and every forward of <paramref name="steps"/>
    /// stay within <see cref="MaxObservedValues"/>: C × spatial values per sample, times each forward's batch size.
    /// </summary>
    /// <exception cref="FormatException">A size is too large; the message names the option or step and the limit.</exception>
    public static void CheckSizes(ModuleKind kind, int channels, int batch, IReadOnlyList<ScriptStep> steps)
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(steps);
        long perSample = kind.ValuesPerSample(channels);
        if (perSample > MaxObservedValues)
            throw new FormatException(string.Create(CultureInfo.InvariantCulture,
                $"--features {channels} makes {perSample} values per sample of {kind.Name}; explain observes at most {MaxObservedValues} (2^24) values per forward."));
        foreach (ScriptStep step in steps.Where(s => s.IsForward))
        {
            int size = step.ForwardBatch ?? batch;
            if (size * perSample <= MaxObservedValues) continue;
            string source = step.ForwardBatch is null ? $"--batch {size}" : $"step '{step.Text}'";
            throw new FormatException(string.Create(CultureInfo.InvariantCulture,
                $"{source} with --features {channels} makes a forward of {size * perSample} values of {kind.Name}; explain observes at most {MaxObservedValues} (2^24) values per forward."));
        }
    }

    /// <summary>Runs <paramref name="steps"/> in order on <paramref name="layer"/>; forwards use fresh seeded batches.</summary>
    public static IReadOnlyList<StepRecord> Run(NormBase<double> layer, ModuleKind kind, IReadOnlyList<ScriptStep> steps,
                                                int batch, int seed)
    {
        var records = new List<StepRecord>();
        int forwardIndex = 0;
        foreach (ScriptStep step in steps)
        {
            double[]? meanBefore = Copy(layer.RunningMean), varBefore = Copy(layer.RunningVar);
            long? counterBefore = layer.NumBatchesTracked;
            nint[]? shape = null;
            ForwardPlan? plan = null;
            string? error = null;
            var warnings = new List<string>();
            void Collect(object? sender, NormWarningEventArgs warning)
            {
                if (ReferenceEquals(sender, layer)) warnings.Add(warning.Message);
            }

            NormWarnings.Raised += Collect;
            try
            {
                if (step.IsForward)
                {
                    shape = kind.Shape(step.ForwardBatch ?? batch, layer.NumFeatures);
                    Tensor<double> x = ObservedBatch.Create(shape, seed + forwardIndex++, mean: forwardIndex, std: 1.0 + forwardIndex);
                    if (step.WithNaN && x.FlattenedLength > 0) x[new nint[shape.Length]] = double.NaN; // the first value: channel 0's statistics
                    plan = layer.Explain(x.Lengths);
                    layer.Forward(x);
                }
                else
                {
                    step.Action!(layer);
                }
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                error = e.Message;
            }
            finally
            {
                NormWarnings.Raised -= Collect;
            }

            records.Add(new StepRecord(
                step.Text, layer.Training, layer.TrackRunningStats, layer.Momentum, layer.Eps, layer.Affine,
                shape?.Select(l => (long)l).ToArray(),
                plan is null || error is not null ? null : plan.NormalizeWith.ToString().ToLowerInvariant(),
                plan?.Reasons, plan?.IneffectiveChanges, error,
                meanBefore, Copy(layer.RunningMean), varBefore, Copy(layer.RunningVar),
                counterBefore, layer.NumBatchesTracked, PolicySettings.Of(layer), warnings));
        }

        return records;
    }

    private static double[]? Copy(Tensor<double>? tensor) => tensor is null ? null : ObservedBatch.Values(tensor);
}
