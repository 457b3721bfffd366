using System.Numerics;
using System.Numerics.Tensors;

namespace NormSharp.Distributed;

/// <summary>
/// PyTorch's <c>SyncBatchNorm.convert_sync_batchnorm</c> over a <see cref="NormModuleCollection"/>: each BatchNorm becomes a
/// SyncBatchNorm built from its current attributes (num_features, eps, momentum, affine, track_running_stats), with its
/// weight and bias when <c>Affine</c>, its running statistics and counter when <c>TrackRunningStats</c>, its
/// requires-grad flags, gradients and mode. Values are copied: the new layers own their tensors.
/// </summary>
internal static class SyncBatchNormConversion
{
    /// <summary>A new collection, the same names in the same order, BatchNorm layers converted.</summary>
    public static NormModuleCollection Convert(NormModuleCollection model, IProcessGroup? processGroup)
    {
        ArgumentNullException.ThrowIfNull(model);
        var converted = new NormModuleCollection(model.Name);
        foreach ((string name, INormModule module) in model)
        {
            converted.Add(name, module switch
            {
                BatchNorm<float> layer => Convert(layer, name, processGroup),
                BatchNorm<double> layer => Convert(layer, name, processGroup),
                _ => module,
            });
        }

        return converted;
    }

    private static SyncBatchNorm<T> Convert<T>(BatchNorm<T> layer, string name, IProcessGroup? processGroup)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (layer.HasUninitializedParameters)
            throw new InvalidOperationException(
                $"'{name}' ({layer.ModuleName}) is a lazy layer that has not run a forward yet: its parameters have no shape to convert. " +
                "Run one forward first, or build the SyncBatchNorm directly.");

        SyncBatchNorm<T> sync = typeof(T) == typeof(float)
            ? (SyncBatchNorm<T>)(object)new SyncBatchNorm(layer.NumFeatures, layer.Eps, layer.Momentum, layer.Affine, layer.TrackRunningStats, processGroup)
            : new SyncBatchNorm<T>(layer.NumFeatures, layer.Eps, layer.Momentum, layer.Affine, layer.TrackRunningStats, processGroup);

        var state = new StateDict();
        StateDict source = layer.StateDict();
        foreach ((string key, StateTensor value) in source)
        {
            bool affineEntry = key is "weight" or "bias";
            if (affineEntry ? layer.Affine : layer.TrackRunningStats) state.Add(key, value);
        }

        sync.LoadStateDict(state, strict: false);
        CopyGradient(layer.Weight, sync.Weight);
        CopyGradient(layer.Bias, sync.Bias);
        sync.Train(layer.Training);
        // The statistics policies are the layer's runtime settings: they travel too (a virtual batch size then makes a
        // synchronized forward fail with its reason, instead of silently normalizing the whole batch at once).
        (sync.FreezeStatistics, sync.FreezeParameters) = (layer.FreezeStatistics, layer.FreezeParameters);
        (sync.SmallBatchPolicy, sync.EmptyBatchPolicy, sync.NonFinitePolicy) = (layer.SmallBatchPolicy, layer.EmptyBatchPolicy, layer.NonFinitePolicy);
        sync.VirtualBatchSize = layer.VirtualBatchSize;
        return sync;
    }

    private static void CopyGradient<T>(Parameter<T>? from, Parameter<T>? to)
    {
        if (from is null || to is null) return;
        to.RequiresGrad = from.RequiresGrad;
        if (from.Grad is Tensor<T> grad && grad.FlattenedLength == to.Data.FlattenedLength)
        {
            var copy = Tensor.CreateFromShape<T>(grad.Lengths);
            grad.CopyTo(copy);
            to.Grad = copy;
        }
    }
}
