using System.Numerics.Tensors;
using NormSharp.Diagnostics;

namespace NormSharp;

// Backward: the record the last successful forward published, and the gradients computed from it.
public abstract partial class NormBase<T>
{
    // The last successful forward's record, and the spare the next forward fills (see SavedForward).
    private SavedForward<T>? savedForward, spareForward;

    // Per-group parameter gradients of one Backward, reused from call to call (Backward runs alone on a layer).
    private double[] gradWeight = [], gradBias = [];

    /// <summary>dx for the saved forward (into <paramref name="destination"/> when given); accumulates the parameter gradients.
    /// <typeparamref name="TInput"/> is dy's and dx's element type, the saved forward's input's (T, or Half or BFloat16 after a
    /// mixed-precision forward).</summary>
    internal Tensor<TInput>? BackwardFromSaved<TInput>(Tensor<TInput> gradOutput, Tensor<TInput>? destination)
        where TInput : unmanaged
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        EnterCall(exclusive: true, "Backward");
        try
        {
            return BackwardAlone(gradOutput, destination);
        }
        finally
        {
            ExitCall(exclusive: true);
        }
    }

    private Tensor<TInput>? BackwardAlone<TInput>(Tensor<TInput> gradOutput, Tensor<TInput>? destination)
        where TInput : unmanaged
    {
        SavedForward<T> saved = savedForward is { HasInput: true } record
            ? record
            : throw new InvalidOperationException($"{ModuleName}.Backward needs a successful Forward first: there is no saved input to differentiate.");
        if (saved.PartCount > 0) return BackwardVirtualBatches(saved, gradOutput, destination);
        ExchangeCall? call = saved.BatchStatistics && saved.Exchange is ExchangeCall exchange ? exchange.Begin<TInput>() : null;
        try
        {
            EnsureBackwardMatches(saved, gradOutput);
            (bool weightGradient, bool biasGradient) = ParameterGradientsWanted(saved);
            Span<double> weightSums = GradientSums(saved.Groups, weightGradient, bias: false), biasSums = GradientSums(saved.Groups, biasGradient, bias: true);
            Tensor<TInput>? dx = ComputeBackward(saved, gradOutput, destination, call, weightSums, biasSums);
            if (weightGradient) Weight!.Grad = Accumulate(Weight.Grad, weightSums, NumFeatures);
            if (biasGradient) Bias!.Grad = Accumulate(Bias.Grad, biasSums, NumFeatures);
            return dx;
        }
        catch (Exception error) when (call is { Reached: false })
        {
            // The other processes wait for this one's sums: they fail too instead of waiting.
            call.Fail(error);
            throw;
        }
    }

    /// <summary>dy's element type and shape must be the saved forward's input's.</summary>
    private static void EnsureBackwardMatches<TInput>(SavedForward<T> saved, Tensor<TInput> gradOutput)
    {
        if (saved.InputOf<TInput>() is null)
            throw new ArgumentException($"gradOutput is a Tensor<{typeof(TInput).Name}> but the last Forward's input was a Tensor<{saved.InputType!.Name}>: " +
                                        "the gradient has the element type of the forward's output.", nameof(gradOutput));
        if (!gradOutput.Lengths.SequenceEqual(saved.Shape))
            throw new ArgumentException($"gradOutput has shape {TorchMessages.FormatShape(gradOutput.Lengths)} but the last Forward's input had shape " +
                                        $"{TorchMessages.FormatShape(saved.Shape)}.", nameof(gradOutput));
    }

    /// <summary>Which parameter gradients the backward of <paramref name="saved"/> adds to (and checks that they can be).</summary>
    private (bool Weight, bool Bias) ParameterGradientsWanted(SavedForward<T> saved)
    {
        bool weightGradient = !saved.ParametersFrozen && Weight is { RequiresGrad: true }, biasGradient = !saved.ParametersFrozen && Bias is { RequiresGrad: true };
        if (weightGradient && biasGradient && Weight!.Grad is Tensor<T> wg && Bias!.Grad is Tensor<T> bg && TensorStorage.Overlap(wg, bg))
            throw new InvalidOperationException("Weight.Grad and Bias.Grad share memory: each gradient needs a tensor of its own.");
        return (weightGradient, biasGradient);
    }

    /// <summary>The per-group sums one backward writes into (empty where a gradient is not wanted), reused from call to call.</summary>
    private Span<double> GradientSums(int groups, bool wanted, bool bias)
    {
        if (gradWeight.Length < groups)
        {
            double[] newWeight = new double[groups], newBias = new double[groups];
            (gradWeight, gradBias) = (newWeight, newBias);
        }

        return wanted ? (bias ? gradBias : gradWeight).AsSpan(0, groups) : [];
    }

    /// <summary>dx of one saved forward (into <paramref name="destination"/> when given), the per-group parameter sums into
    /// <paramref name="weightSums"/> and <paramref name="biasSums"/>; changes no state of the layer.</summary>
    private Tensor<TInput>? ComputeBackward<TInput>(SavedForward<T> saved, Tensor<TInput> gradOutput, Tensor<TInput>? destination, ExchangeCall? call,
                                                    Span<double> weightSums, Span<double> biasSums)
        where TInput : unmanaged
    {
        Tensor<TInput> input = saved.InputOf<TInput>()!;
        if (saved.GroupedLayout is not null)
        {
            // InstanceNorm: row-major memory read as (1, N·C, *) planes; dy and dx are read and written the same way.
            if (destination is not null && !TensorStorage.IsRowMajor(destination))
                throw new ArgumentException($"destination must be a row-major tensor of shape {TorchMessages.FormatShape(saved.Shape)}.", nameof(destination));
        }

        // (A mixed-precision dx cannot share memory with the float tensors: each lies in an array of its own type.)
        if (destination is Tensor<T> sameType)
            Functional.EnsureNoSharedMemory<T>([new(sameType, "destination", true), new(Weight?.Grad, "Weight.Grad", false), new(Bias?.Grad, "Bias.Grad", false),
                                                new(Weight?.Data, "weight", false), new(Bias?.Data, "bias", false),
                                                new(RunningMean, "running_mean", false), new(RunningVar, "running_var", false)]);

        Tensor<TInput> dy = saved.GroupedLayout is null ? gradOutput : TensorStorage.RowMajor(gradOutput);
        return Functional.BackwardCore(dy, input, saved.Mean, saved.InvStd, saved.Weight, saved.BatchStatistics, true,
                                       weightSums, biasSums, destination, saved.GroupedLayout, call, saved.Count);
    }

    /// <summary>Adds the per-group gradients into the (C) gradient, group g into channel g mod C (any strides).</summary>
    private static Tensor<T> Accumulate(Tensor<T>? grad, ReadOnlySpan<double> addition, int channels)
    {
        grad ??= Tensor.CreateFromShape<T>([channels]);
        int length = (int)grad.FlattenedLength;
        bool dense = TensorStorage.IsRowMajor(grad);
        Span<T> target = dense ? TensorStorage.Span(grad) : default;
        for (int c = 0; c < length; c++)
        {
            double sum = 0;
            for (int g = c; g < addition.Length; g += length) sum += addition[g];
            if (dense) target[c] += T.CreateTruncating(sum);
            else grad[(nint)c] += T.CreateTruncating(sum);
        }

        return grad;
    }
}
