using System.Text.Json;
using System.Text.Json.Serialization;

namespace NormSharp.Cli.Rendering;

/// <summary>
/// The JSON the CLI prints (<c>--json</c>): camelCase names, indented. Numbers JSON cannot hold are written as the strings
/// <c>"NaN"</c>, <c>"Infinity"</c> and <c>"-Infinity"</c> (the anomalies <c>inspect</c> reports, or a NaN eps given to
/// <c>explain</c>); every other number is a JSON number. Control characters in strings are escaped (<c>\u001B</c>).
/// </summary>
public static class JsonOutput
{
    /// <summary>How non-finite numbers are written, for help texts.</summary>
    public const string NonFiniteNumbers = "NaN and infinities are written as the strings \"NaN\", \"Infinity\", \"-Infinity\"";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary><paramref name="value"/> as the CLI prints it.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
