namespace NormSharp;

/// <summary>How a recalibration weighs the batches it sees (see <see cref="Recalibration"/>).</summary>
public enum RecalibrationWeighting
{
    /// <summary>
    /// Every value weighs the same, whatever batch it came in (the default): running_mean is the mean of all the values
    /// seen, running_var their unbiased variance, as one forward over all the batches concatenated would give them
    /// (InstanceNorm: every sample weighs the same; see <see cref="Recalibration"/>).
    /// </summary>
    PerSample,

    /// <summary>
    /// Every batch weighs the same, exactly as <c>torch.optim.swa_utils.update_bn</c>: the statistics are reset (mean 0,
    /// variance 1, counter 0) and each batch is blended in with momentum null, factor 1 / num_batches_tracked, an empty
    /// batch counting as a batch, each blend stored in the layer's element type. So a small last batch weighs as much as
    /// a full one, and the variance is the average of the batches' unbiased variances. For parity with PyTorch only.
    /// </summary>
    PerBatch,
}
