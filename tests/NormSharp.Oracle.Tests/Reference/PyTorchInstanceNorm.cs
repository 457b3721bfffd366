using System.Globalization;
using static TorchSharp.torch;

namespace NormSharp.Oracle.Tests.Reference;

/// <summary>
/// PyTorch 2.x's Python module logic for InstanceNorm, ported from <c>torch/nn/modules/instancenorm.py</c>
/// (<c>_InstanceNorm.forward</c>, <c>_handle_no_batch_input</c>, <c>_apply_instance_norm</c>) and
/// <c>torch/nn/functional.py</c> (<c>instance_norm</c>, <c>_verify_spatial_size</c>), over libtorch's
/// <c>instance_norm</c> through TorchSharp.
/// </summary>
public sealed class PyTorchInstanceNorm : PyTorchNormBase
{
    private readonly int noBatchDim;

    public PyTorchInstanceNorm(int noBatchDim, long numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats, ScalarType dtype)
        : base([noBatchDim, noBatchDim + 1], RankMessage(noBatchDim), numFeatures, eps, momentum, affine, trackRunningStats, dtype)
    {
        this.noBatchDim = noBatchDim;
    }

    /// <summary>The lazy form (<c>LazyInstanceNorm*d</c>, with <c>_LazyNormBase</c>'s defaults).</summary>
    public PyTorchInstanceNorm(int noBatchDim, double eps, double? momentum, bool affine, bool trackRunningStats, ScalarType dtype)
        : base([noBatchDim, noBatchDim + 1], RankMessage(noBatchDim), eps, momentum, affine, trackRunningStats, dtype)
    {
        this.noBatchDim = noBatchDim;
    }

    /// <summary>Whether the last forward emitted the channel-mismatch UserWarning.</summary>
    public bool Warned { get; private set; }

    private static string RankMessage(int noBatchDim) => $"expected {noBatchDim}D or {noBatchDim + 1}D input (got {{0}}D input)";

    protected override Tensor ForwardInitialized(Tensor input)
    {
        Warned = false;
        CheckInputDim(input);
        int featureDim = (int)input.dim() - noBatchDim;
        if (input.size(featureDim) != NumFeatures)
        {
            if (Affine)
                throw new PythonException("ValueError", string.Create(CultureInfo.InvariantCulture,
                    $"expected input's size at dim={featureDim} to match num_features ({NumFeatures}), but got: {input.size(featureDim)}."));
            Warned = true;
        }

        if (input.dim() == noBatchDim) return Apply(input.unsqueeze(0)).squeeze(0);
        return Apply(input);
    }

    private Tensor Apply(Tensor input) =>
        FunctionalInstanceNorm(input, RunningMean, RunningVar, Weight, Bias, Training || !TrackRunningStats, Momentum ?? 0.0, Eps);

    /// <summary><c>torch.nn.functional.instance_norm</c>: the Python-level check, then libtorch.</summary>
    public static Tensor FunctionalInstanceNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
                                                bool useInputStats, double momentum, double eps)
    {
        if (useInputStats)
        {
            long[] size = input.shape;
            long sizeProds = 1;
            for (int i = 2; i < size.Length; i++) sizeProds *= size[i];
            if (sizeProds == 1)
                throw new PythonException("ValueError",
                    $"Expected more than 1 spatial element when training, got input size torch.Size([{string.Join(", ", size)}])");
        }

        return nn.functional.instance_norm(input, runningMean, runningVar, weight, bias, useInputStats, momentum, eps);
    }
}
