using System.Numerics.Tensors;

namespace NormSharp.Cli.Observation;

/// <summary>Runs an <c>explain --steps</c> script on one real layer and records what each step did.</summary>
public static class StepRunner
{
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
            try
            {
                if (step.IsForward)
                {
                    shape = kind.Shape(step.ForwardBatch ?? batch, layer.NumFeatures);
                    Tensor<double> x = ObservedBatch.Create(shape, seed + forwardIndex++, mean: forwardIndex, std: 1.0 + forwardIndex);
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

            records.Add(new StepRecord(
                step.Text, layer.Training, layer.TrackRunningStats, layer.Momentum, layer.Eps,
                shape?.Select(l => (long)l).ToArray(),
                plan is null || error is not null ? null : plan.NormalizeWith.ToString().ToLowerInvariant(),
                plan?.Reasons, plan?.IneffectiveChanges, error,
                meanBefore, Copy(layer.RunningMean), varBefore, Copy(layer.RunningVar),
                counterBefore, layer.NumBatchesTracked));
        }

        return records;
    }

    private static double[]? Copy(Tensor<double>? tensor) => tensor is null ? null : ObservedBatch.Values(tensor);
}
