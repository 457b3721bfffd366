namespace NormSharp.Cli.Plotting;

/// <summary>One layer's running statistics after each step: index 0 is the freshly built layer (mean 0, variance 1),
/// index k the state after the k-th batch.</summary>
/// <param name="Momentum">The layer's momentum; null is PyTorch's <c>momentum=None</c>, the cumulative average.</param>
/// <param name="RunningMean">running_mean[0] after each step.</param>
/// <param name="RunningVar">running_var[0] after each step.</param>
public sealed record RunningStatsSeries(double? Momentum, IReadOnlyList<float> RunningMean, IReadOnlyList<float> RunningVar)
{
    /// <summary>The momentum as the plot's legend and the CSV's header name it: <c>0.1</c> or <c>None</c>.</summary>
    public string MomentumText => Momentum is double m ? CsvTable.Number(m) : "None";
}
