using static TorchSharp.torch;

namespace NormSharp.Oracle.Tests.Reference;

/// <summary>
/// PyTorch's Python module logic for BatchNorm, ported line by line from <c>torch/nn/modules/batchnorm.py</c>
/// (<c>_NormBase.__init__</c>, <c>reset_running_stats</c>, <c>reset_parameters</c>, <c>_BatchNorm.forward</c>,
/// <c>BatchNorm*d._check_input_dim</c>) and <c>torch/nn/functional.py</c> (<c>batch_norm</c>,
/// <c>_verify_batch_size</c>), on top of libtorch's <c>batch_norm</c> through TorchSharp. It keeps PyTorch's
/// order of operations, including the counter increment before the checks.
/// </summary>
public sealed class PyTorchBatchNorm
{
    private readonly int[] acceptedRanks;
    private readonly string rankMessage;

    public PyTorchBatchNorm(int[] acceptedRanks, string rankMessage, long numFeatures, double eps, double? momentum,
                            bool affine, bool trackRunningStats, ScalarType dtype)
    {
        this.acceptedRanks = acceptedRanks;
        this.rankMessage = rankMessage;
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Affine = affine;
        TrackRunningStats = trackRunningStats;
        if (affine)
        {
            Weight = empty(numFeatures, dtype: dtype);
            Bias = empty(numFeatures, dtype: dtype);
        }

        if (trackRunningStats)
        {
            RunningMean = zeros(numFeatures, dtype: dtype);
            RunningVar = ones(numFeatures, dtype: dtype);
            NumBatchesTracked = tensor(0L);
        }

        ResetParameters();
    }

    public long NumFeatures { get; }
    public double Eps { get; set; }
    public double? Momentum { get; set; }
    public bool Affine { get; set; }
    public bool TrackRunningStats { get; set; }
    public bool Training { get; set; } = true;
    public Tensor? Weight { get; set; }
    public Tensor? Bias { get; set; }
    public Tensor? RunningMean { get; set; }
    public Tensor? RunningVar { get; set; }
    public Tensor? NumBatchesTracked { get; set; }

    public void ResetRunningStats()
    {
        if (TrackRunningStats)
        {
            // running_* are None when built without tracking: Python raises AttributeError here.
            (RunningMean ?? throw new PythonException("AttributeError", "'NoneType' object has no attribute 'zero_'")).zero_();
            RunningVar!.fill_(1);
            NumBatchesTracked!.zero_();
        }
    }

    public void ResetParameters()
    {
        ResetRunningStats();
        if (Affine)
        {
            (Weight ?? throw new PythonException("AttributeError", "'NoneType' object has no attribute 'fill_'")).fill_(1.0);
            Bias!.zero_();
        }
    }

    public Tensor Forward(Tensor input)
    {
        // _check_input_dim
        if (!acceptedRanks.Contains((int)input.dim()))
            throw new PythonException("ValueError", string.Format(System.Globalization.CultureInfo.InvariantCulture, rankMessage, input.dim()));

        double exponentialAverageFactor = Momentum ?? 0.0;
        if (Training && TrackRunningStats)
        {
            if (NumBatchesTracked is not null)
            {
                NumBatchesTracked.add_(1);
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

    /// <summary>A deep copy, to restore the state after a call that failed (see the oracle's atomicity rule).</summary>
    public PyTorchBatchNorm Clone()
    {
        var copy = (PyTorchBatchNorm)MemberwiseClone();
        copy.Weight = Weight?.clone();
        copy.Bias = Bias?.clone();
        copy.RunningMean = RunningMean?.clone();
        copy.RunningVar = RunningVar?.clone();
        copy.NumBatchesTracked = NumBatchesTracked?.clone();
        return copy;
    }
}
