namespace NormSharp.Cli.Plotting;

/// <summary>Where and how a plot is written, as the command line asked.</summary>
/// <param name="ImagePath">The image file.</param>
/// <param name="Format">PNG or SVG (from <c>--format</c>, else from the image file's extension).</param>
/// <param name="Width">Image width in pixels.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="CsvPath">The CSV file for the plotted data, or null.</param>
public sealed record PlotRequest(string ImagePath, PlotFormat Format, int Width, int Height, string? CsvPath);
