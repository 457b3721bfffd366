using ScottPlot;
using SkiaSharp;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// Gives ScottPlot the DejaVu Sans typefaces embedded in this assembly (regular and bold) under the family name
/// <see cref="PlotFont.Family"/>, so that a plot's text never depends on the fonts installed: SkiaSharp's Linux build
/// without dependencies finds no system font through fontconfig, and a bare system has none to find.
/// </summary>
internal sealed class EmbeddedFontResolver : IFontResolver
{
    private readonly Lazy<SKTypeface> regular = new(() => Load("NormSharp.Cli.Plotting.Fonts.DejaVuSans.ttf"));
    private readonly Lazy<SKTypeface> bold = new(() => Load("NormSharp.Cli.Plotting.Fonts.DejaVuSans-Bold.ttf"));

    /// <inheritdoc/>
    public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing spacing) =>
        Matches(fontName) ? (weight >= FontWeight.SemiBold ? bold : regular).Value : null;

    /// <inheritdoc/>
    public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) =>
        Matches(fontName) ? (bold ? this.bold : regular).Value : null;

    private static bool Matches(string fontName) => string.Equals(fontName, PlotFont.Family, StringComparison.OrdinalIgnoreCase);

    private static SKTypeface Load(string resource)
    {
        using Stream stream = typeof(EmbeddedFontResolver).Assembly.GetManifestResourceStream(resource)
                              ?? throw new InvalidOperationException($"the font {resource} is missing from {typeof(EmbeddedFontResolver).Assembly.GetName().Name}.");
        return SKTypeface.FromStream(stream) ?? throw new InvalidOperationException($"the font {resource} could not be read.");
    }
}
