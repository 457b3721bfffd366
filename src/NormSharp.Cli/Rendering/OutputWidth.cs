using System.CommandLine;
using System.Globalization;

namespace NormSharp.Cli.Rendering;

/// <summary>The global <c>--width N</c> option: lay the text out for N columns, whatever the output is.</summary>
public static class OutputWidth
{
    /// <summary>The option's name.</summary>
    public const string Name = "--width";

    /// <summary>The narrowest width accepted.</summary>
    public const int Minimum = 40;

    /// <summary>The widest width accepted.</summary>
    public const int Maximum = 1000;

    /// <summary>A new <c>--width</c> option, for the root command (it applies to every command).</summary>
    public static Option<int?> CreateOption() => new(Name)
    {
        Description = string.Create(CultureInfo.InvariantCulture,
            $"Lay tables and text out for this many columns ({Minimum} to {Maximum}; default: the terminal's width, " +
            $"{OutputSettings.RedirectedWidth} when the output is a file or a pipe). --json ignores it."),
        Recursive = true,
        HelpName = "N",
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int width) && width is >= Minimum and <= Maximum)
                return width;
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"{Name} must be a whole number from {Minimum} to {Maximum}, not '{text}'"));
            return null;
        },
    };

    /// <summary>The <c>--width</c> given on the command line, or null (then the output decides).</summary>
    public static int? From(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        Option<int?>? option = parse.RootCommandResult.Command.Options.OfType<Option<int?>>().FirstOrDefault(o => o.Name == Name);
        return option is null ? null : parse.GetValue(option);
    }
}
