using System.Globalization;
using static TorchSharp.torch;

namespace NormSharp.Oracle.Tests.Reference;

/// <summary>
/// PyTorch's <c>_NormBase</c> (<c>__init__</c>, <c>reset_running_stats</c>, <c>reset_parameters</c>) and
/// <c>_LazyNormBase</c> plus the <c>LazyModuleMixin</c> forward pre-hook (<c>initialize_parameters</c>,
/// "has not been fully initialized"), ported from <c>torch/nn/modules/batchnorm.py</c> and <c>lazy.py</c>.
/// Uninitialized parameters are modelled by the <see cref="pendingAffine"/> / <see cref="pendingStatistics"/> flags.
/// </summary>
public abstract class PyTorchNormBase
{
    private readonly int[] acceptedRanks;
    private readonly string rankMessage;
    private readonly ScalarType dtype;
    private bool pendingAffine, pendingStatistics, hookActive;

    protected PyTorchNormBase(int[] acceptedRanks, string rankMessage, long numFeatures, double eps, double? momentum,
                              bool affine, bool trackRunningStats, ScalarType dtype)
    {
        this.acceptedRanks = acceptedRanks;
        this.rankMessage = rankMessage;
        this.dtype = dtype;
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

    /// <summary><c>_LazyNormBase.__init__</c>: num_features 0, uninitialized tensors, a real counter.</summary>
    protected PyTorchNormBase(int[] acceptedRanks, string rankMessage, double eps, double? momentum, bool affine, bool trackRunningStats,
                              ScalarType dtype)
    {
        this.acceptedRanks = acceptedRanks;
        this.rankMessage = rankMessage;
        this.dtype = dtype;
        Eps = eps;
        Momentum = momentum;
        Affine = affine;
        TrackRunningStats = trackRunningStats;
        pendingAffine = affine;
        pendingStatistics = trackRunningStats;
        hookActive = true;
        if (trackRunningStats) NumBatchesTracked = tensor(0L);
    }

    public long NumFeatures { get; private set; }
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

    private bool HasUninitializedParams => pendingAffine || pendingStatistics;

    public void ResetRunningStats()
    {
        if (TrackRunningStats)
        {
            if (pendingStatistics) throw new PythonException("ValueError", "Attempted to use an uninitialized parameter in zero_");
            // running_* are None when built without tracking: Python raises AttributeError here.
            (RunningMean ?? throw new PythonException("AttributeError", "'NoneType' object has no attribute 'zero_'")).zero_();
            RunningVar!.fill_(1);
            NumBatchesTracked!.zero_();
        }
    }

    public void ResetParameters()
    {
        if (HasUninitializedParams) return; // _LazyNormBase.reset_parameters
        ResetRunningStats();
        if (Affine)
        {
            (Weight ?? throw new PythonException("AttributeError", "'NoneType' object has no attribute 'fill_'")).fill_(1.0);
            Bias!.zero_();
        }
    }

    /// <summary>The module call: the lazy pre-hook (once), then the layer's forward.</summary>
    public Tensor Forward(Tensor input)
    {
        if (hookActive)
        {
            // LazyModuleMixin._infer_parameters
            if (HasUninitializedParams)
            {
                if (input.dim() < 2) throw new PythonException("IndexError", "tuple index out of range");
                NumFeatures = input.shape[1];
                if (Affine)
                {
                    if (!pendingAffine) throw new PythonException("AssertionError", "");
                    Weight = empty(NumFeatures, dtype: dtype);
                    Bias = empty(NumFeatures, dtype: dtype);
                    pendingAffine = false;
                }

                if (TrackRunningStats)
                {
                    if (!pendingStatistics) throw new PythonException("AssertionError", "");
                    RunningMean = empty(NumFeatures, dtype: dtype);
                    RunningVar = empty(NumFeatures, dtype: dtype);
                    pendingStatistics = false;
                }

                ResetParameters();
            }

            if (HasUninitializedParams) throw new PythonException("RuntimeError", $"module {GetType().Name} has not been fully initialized");
            hookActive = false;
        }

        return ForwardInitialized(input);
    }

    protected abstract Tensor ForwardInitialized(Tensor input);

    /// <summary><c>_check_input_dim</c>.</summary>
    protected void CheckInputDim(Tensor input)
    {
        if (!acceptedRanks.Contains((int)input.dim()))
            throw new PythonException("ValueError", string.Format(CultureInfo.InvariantCulture, rankMessage, input.dim()));
    }

    /// <summary>A deep copy, to restore the state after a call that failed (see the oracle's atomicity rule).</summary>
    public PyTorchNormBase Clone()
    {
        var copy = (PyTorchNormBase)MemberwiseClone();
        copy.Weight = Weight?.clone();
        copy.Bias = Bias?.clone();
        copy.RunningMean = RunningMean?.clone();
        copy.RunningVar = RunningVar?.clone();
        copy.NumBatchesTracked = NumBatchesTracked?.clone();
        return copy;
    }
}
