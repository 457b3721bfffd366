using static TorchSharp.torch;

namespace NormSharp.Oracle.Tests.Reference;

/// <summary>
/// PyTorch's Python module logic for BatchNorm, ported line by line from <c>torch/nn/modules/batchnorm.py</c>
/// (<c>_BatchNorm.forward</c>, <c>BatchNorm*d._check_input_dim</c>) and <c>torch/nn/functional.py</c>
/// (<c>batch_norm</c>, <c>_verify_batch_size</c>), on top of libtorch's <c>batch_norm</c> through TorchSharp. It keeps
/// PyTorch's order of operations, including the counter increment before the checks.
/// </summary>
public sealed class PyTorchBatchNorm : PyTorchNormBase
{
    public PyTorchBatchNorm(int[] acceptedRanks, string rankMessage, long numFeatures, double eps, double? momentum,
                            bool affine, bool trackRunningStats, ScalarType dtype)
        : base(acceptedRanks, rankMessage, numFeatures, eps, momentum, affine, trackRunningStats, dtype)
    {
    }

    /// <summary>The lazy form (<c>LazyBatchNorm*d</c>).</summary>
    public PyTorchBatchNorm(int[] acceptedRanks, string rankMessage, double eps, double? momentum, bool affine, bool trackRunningStats, ScalarType dtype)
        : base(acceptedRanks, rankMessage, eps, momentum, affine, trackRunningStats, dtype)
    {
    }

    protected override Tensor ForwardInitialized(Tensor input)
    {
        CheckInputDim(input);
        double exponentialAverageFactor = Momentum ?? 0.0;
        if (Training && TrackRunningStats)
        {
            if (NumBatchesTracked is not null)
            {
                // num_batches_tracked.add_(1), written without a TorchSharp Scalar: under parallel test runs an implicit Scalar
                // was once read as a floating-point alpha ("For integral input tensors, argument alpha must not be a floating
                // point number"), a harness flake, not a difference of the library.
                NumBatchesTracked.copy_(tensor(NumBatchesTracked.item<long>() + 1));
                exponentialAverageFactor = Momentum is null ? 1.0 / NumBatchesTracked.item<long>() : Momentum.Value;
            }
        }

        bool bnTraining = Training || (RunningMean is null && RunningVar is null);
        return FunctionalBatchNorm(
            input,
            !Training || TrackRunningStats ? RunningMean : null,
            !Training || TrackRunningStats ? RunningVar : null,
            Weight, Bias, bnTraining, exponentialAverageFactor, Eps);
    }

    /// <summary><c>torch.nn.functional.batch_norm</c>: the Python-level check, then libtorch.</summary>
    public static Tensor FunctionalBatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
                                             bool training, double momentum, double eps)
    {
        if (training) VerifyBatchSize(input.shape);
        return nn.functional.batch_norm(input, runningMean, runningVar, weight, bias, training, momentum, eps);
    }

    private static void VerifyBatchSize(long[] size)
    {
        long sizeProds = size[0];
        for (int i = 2; i < size.Length; i++) sizeProds *= size[i];
        if (sizeProds == 1)
            throw new PythonException("ValueError",
                $"Expected more than 1 value per channel when training, got input size torch.Size([{string.Join(", ", size)}])");
    }
}
