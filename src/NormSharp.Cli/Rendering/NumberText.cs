using System.Globalization;

namespace NormSharp.Cli.Rendering;

/// <summary>Numbers written the way a PyTorch user reads them (<c>1e-05</c>, not <c>1E-05</c>).</summary>
public static class NumberText
{
    /// <summary>The shortest round-trip text, invariant culture, lower-case exponent.</summary>
    public static string Of(double value) =>
        value.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    /// <summary>Four significant digits, for summaries (<c>0.1023</c>, <c>1.5e+04</c>).</summary>
    public static string Short(double value) =>
        value.ToString("G4", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    /// <summary>An integer, invariant culture.</summary>
    public static string Of(long value) => value.ToString(CultureInfo.InvariantCulture);
}
