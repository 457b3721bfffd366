using System.CommandLine;
using System.Globalization;

namespace NormSharp.Cli.Plotting;

/// <summary>An option that takes a whole number in a range; anything else is a usage error naming the range.</summary>
public static class WholeNumberOption
{
    /// <summary>A new option <paramref name="name"/>, from <paramref name="minimum"/> to <paramref name="maximum"/>,
    /// <paramref name="fallback"/> when left out; <paramref name="what"/> starts its description.</summary>
    public static Option<int> Create(string name, int fallback, int minimum, int maximum, string what) => new(name)
    {
        Description = string.Create(CultureInfo.InvariantCulture, $"{what} ({minimum} to {maximum}; default {fallback})."),
        HelpName = "N",
        DefaultValueFactory = _ => fallback,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) && value >= minimum && value <= maximum)
                return value;
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"{name} must be a whole number from {minimum} to {maximum}, not '{text}'"));
            return fallback;
        },
    };
}
