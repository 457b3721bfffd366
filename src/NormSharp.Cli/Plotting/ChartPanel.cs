using ScottPlot;

namespace NormSharp.Cli.Plotting;

/// <summary>One plot of a figure and where it goes, as fractions of the figure's width and height (0 = left or top).</summary>
/// <param name="Plot">The plot, with its title, axes and legend.</param>
/// <param name="Left">Left edge, a fraction of the width.</param>
/// <param name="Top">Top edge, a fraction of the height.</param>
/// <param name="Right">Right edge, a fraction of the width.</param>
/// <param name="Bottom">Bottom edge, a fraction of the height.</param>
public sealed record ChartPanel(Plot Plot, double Left, double Top, double Right, double Bottom)
{
    /// <summary>A panel that fills the figure.</summary>
    public static ChartPanel Whole(Plot plot) => new(plot, 0, 0, 1, 1);
}
