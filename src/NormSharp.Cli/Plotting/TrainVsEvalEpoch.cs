namespace NormSharp.Cli.Plotting;

/// <summary>One epoch of the spirals network's training, and its test accuracy in both modes after it.</summary>
/// <param name="Epoch">1-based.</param>
/// <param name="Loss">Mean training loss over the epoch's batches.</param>
/// <param name="TrainingBatchAccuracy">Share of the training points classified right during the epoch (train mode, as
/// the network learned).</param>
/// <param name="EvalModeAccuracy">Test accuracy in eval mode: the running statistics normalize (the whole test set in
/// one batch).</param>
/// <param name="TrainModeAccuracy">Test accuracy in train mode with tracking off: each batch's own statistics normalize
/// (shuffled batches of the training batch size; nothing updated).</param>
public sealed record TrainVsEvalEpoch(int Epoch, double Loss, double TrainingBatchAccuracy, double EvalModeAccuracy, double TrainModeAccuracy)
{
    /// <summary>Train mode minus eval mode, in accuracy (a fraction).</summary>
    public double Gap => TrainModeAccuracy - EvalModeAccuracy;
}
