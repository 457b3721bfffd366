using SkiaSharp;

namespace NormSharp.Cli.Plotting;

/// <summary>Draws a figure of one or more <see cref="ChartPanel"/>s into PNG or SVG bytes, in memory.</summary>
public static class ChartRenderer
{
    /// <summary>The figure as a file of <paramref name="format"/>, <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    public static byte[] Render(IReadOnlyList<ChartPanel> panels, int width, int height, PlotFormat format)
    {
        ArgumentNullException.ThrowIfNull(panels);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        foreach (ChartPanel panel in panels) PlotFont.Apply(panel.Plot);
        return format switch
        {
            PlotFormat.Png => RenderPng(panels, width, height),
            PlotFormat.Svg => RenderSvg(panels, width, height),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown format"),
        };
    }

    private static byte[] RenderPng(IReadOnlyList<ChartPanel> panels, int width, int height)
    {
        using SKSurface surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
                                  ?? throw new InvalidOperationException($"cannot allocate a {width} x {height} image.");
        Draw(surface.Canvas, panels, width, height);
        using SKImage image = surface.Snapshot();
        using SKData data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static byte[] RenderSvg(IReadOnlyList<ChartPanel> panels, int width, int height)
    {
        using var memory = new MemoryStream();
        using (var stream = new SKManagedWStream(memory))
        {
            using SKCanvas canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, height), stream);
            Draw(canvas, panels, width, height);
        }

        return memory.ToArray();
    }

    private static void Draw(SKCanvas canvas, IReadOnlyList<ChartPanel> panels, int width, int height)
    {
        canvas.Clear(SKColors.White);
        foreach (ChartPanel panel in panels)
        {
            float left = (float)Math.Round(panel.Left * width), top = (float)Math.Round(panel.Top * height);
            float right = (float)Math.Round(panel.Right * width), bottom = (float)Math.Round(panel.Bottom * height);
            // ScottPlot clears the canvas before it draws: the clip keeps each panel from erasing the others.
            canvas.Save();
            canvas.ClipRect(new SKRect(left, top, right, bottom));
            canvas.Translate(left, top);
            panel.Plot.Render(canvas, (int)(right - left), (int)(bottom - top));
            canvas.Restore();
        }

        canvas.Flush();
    }
}
