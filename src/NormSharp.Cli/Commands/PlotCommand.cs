using System.CommandLine;
using NormSharp.Cli.Plotting;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>plot running-stats | train-vs-eval | checkpoint FILE</c>: pictures of what the other commands tell in words, as PNG
/// or SVG (<see cref="PlotOutputOptions"/>), with the plotted data as CSV on request. A wrong command line (an unknown
/// format or extension, a bad number) is a usage error (2); a file that cannot be read or written, or a checkpoint without
/// normalization layers, is one line on the error output and exit code 1, and leaves no file behind.
/// </summary>
public static class PlotCommand
{
    /// <summary>Builds the command and its subcommands; errors go to <paramref name="error"/>, the written files' names to
    /// <paramref name="output"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error) =>
        new("plot", "Draw running statistics, train versus eval accuracy, or a checkpoint's normalization layers as PNG or SVG.")
        {
            PlotRunningStatsCommand.Create(output, error),
            PlotTrainVsEvalCommand.Create(output, error),
            PlotCheckpointCommand.Create(output, error),
        };

    /// <summary>Renders and writes a figure as <paramref name="request"/> asks, then names the files on
    /// <paramref name="output"/>; a failed write is one line on <paramref name="error"/> and exit code 1.</summary>
    public static int Write(PlotRequest request, IReadOnlyList<ChartPanel> panels, CsvTable csv, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        byte[] image = ChartRenderer.Render(panels, request.Width, request.Height, request.Format);
        try
        {
            PlotWriter.Write(request, image, csv);
        }
        catch (IOException e)
        {
            return CliError.Write(error, e.Message, ExitCodes.Failure);
        }

        output.WriteLine($"wrote {Rendering.TerminalText.OneLine(request.ImagePath)} ({request.Width} x {request.Height} {request.Format.ToString().ToUpperInvariant()})" +
                         (request.CsvPath is null ? "" : $" and {Rendering.TerminalText.OneLine(request.CsvPath)}"));
        return ExitCodes.Success;
    }
}
