namespace NormSharp.Cli.Plotting;

/// <summary>The image formats <c>plot</c> writes.</summary>
public enum PlotFormat
{
    /// <summary>A PNG bitmap.</summary>
    Png,

    /// <summary>An SVG drawing (text stays text).</summary>
    Svg,
}
