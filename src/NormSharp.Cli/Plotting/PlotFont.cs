using ScottPlot;

namespace NormSharp.Cli.Plotting;

/// <summary>The one font every plot uses: DejaVu Sans, embedded in the CLI (<see cref="EmbeddedFontResolver"/>).</summary>
public static class PlotFont
{
    /// <summary>The family name plots ask for; only the embedded resolver answers to it.</summary>
    public const string Family = "NormSharp DejaVu Sans";

    private static readonly Lock Gate = new();
    private static bool registered;

    /// <summary>Registers the embedded font with ScottPlot (once per process) and sets every text of
    /// <paramref name="plot"/> (title, axis labels, ticks, legend) to it.</summary>
    public static void Apply(Plot plot)
    {
        ArgumentNullException.ThrowIfNull(plot);
        lock (Gate)
        {
            if (!registered)
            {
                Fonts.FontResolvers.Insert(0, new EmbeddedFontResolver());
                Fonts.Default = Family;
                registered = true;
            }
        }

        plot.Font.Set(Family);
        plot.Legend.FontName = Family;
        plot.Legend.SetBestFontOnEachRender = false;
    }
}
