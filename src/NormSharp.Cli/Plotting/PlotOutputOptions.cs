using System.CommandLine;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// The options every <c>plot</c> subcommand takes: <c>--output FILE</c> (required), <c>--format png|svg</c> (default: from
/// the extension), <c>--image-width</c> and <c>--image-height</c> in pixels (default 800 x 500; <c>--width</c> is the
/// console's column count), and <c>--csv FILE</c>.
/// </summary>
public sealed class PlotOutputOptions
{
    /// <summary>Default image width in pixels.</summary>
    public const int DefaultWidth = 800;

    /// <summary>Default image height in pixels.</summary>
    public const int DefaultHeight = 500;

    /// <summary>The smallest width or height accepted, in pixels.</summary>
    public const int MinimumSize = 200;

    /// <summary>The largest width or height accepted, in pixels.</summary>
    public const int MaximumSize = 8000;

    private readonly Option<string> output = new("--output", "-o")
    {
        Description = "The image to write: .png or .svg (replaced atomically if it exists).",
        Required = true,
        HelpName = "FILE",
    };

    private readonly Option<string?> format = new("--format")
    {
        Description = "png or svg (default: from the --output file's extension).",
        HelpName = "png|svg",
    };

    private readonly Option<int> width = WholeNumberOption.Create("--image-width", DefaultWidth, MinimumSize, MaximumSize, "Image width in pixels");

    private readonly Option<int> height = WholeNumberOption.Create("--image-height", DefaultHeight, MinimumSize, MaximumSize, "Image height in pixels");

    private readonly Option<string?> csv = new("--csv")
    {
        Description = "Also write the plotted data to this CSV file.",
        HelpName = "FILE",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(output);
        command.Options.Add(format);
        command.Options.Add(width);
        command.Options.Add(height);
        command.Options.Add(csv);
    }

    /// <summary>The request the command line makes, or an error message for a usage error (exit code 2): an empty path,
    /// an unknown format or extension, the CSV file the same as the image.</summary>
    public PlotRequest? Resolve(ParseResult parse, out string? usageError)
    {
        ArgumentNullException.ThrowIfNull(parse);
        usageError = null;
        string path = parse.GetValue(output) ?? "";
        string? csvPath = parse.GetValue(csv);
        if (path.Length == 0) usageError = "--output is empty; give the .png or .svg file to write.";
        else if (csvPath is { Length: 0 }) usageError = "--csv is empty; give the CSV file to write, or leave the option out.";
        else if (csvPath is not null && string.Equals(Path.GetFullPath(csvPath), Path.GetFullPath(path), StringComparison.Ordinal))
            usageError = "--csv is the --output file; write the data somewhere else.";
        if (usageError is not null) return null;

        PlotFormat chosen;
        string? named = parse.GetValue(format);
        if (named is not null)
        {
            if (!TryParseFormat(named, out chosen))
            {
                usageError = $"--format must be png or svg, not '{named}'.";
                return null;
            }
        }
        else if (!TryParseFormat(Path.GetExtension(path).TrimStart('.'), out chosen))
        {
            usageError = $"cannot tell the format of '{path}' from its extension; name the file .png or .svg, or give --format png|svg.";
            return null;
        }

        return new PlotRequest(path, chosen, parse.GetValue(width), parse.GetValue(height), csvPath);
    }

    private static bool TryParseFormat(string text, out PlotFormat format)
    {
        switch (text.ToUpperInvariant())
        {
            case "PNG":
                format = PlotFormat.Png;
                return true;
            case "SVG":
                format = PlotFormat.Svg;
                return true;
            default:
                format = default;
                return false;
        }
    }
}
