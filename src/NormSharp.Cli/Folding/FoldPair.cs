using System.Globalization;

namespace NormSharp.Cli.Folding;

/// <summary>One fold the CLI is asked for: a layer's weight and the normalization layer after it.</summary>
/// <param name="WeightKey">The preceding layer's weight, e.g. <c>layer1.0.conv1.weight</c>; its bias is the same name
/// ending in <c>.bias</c>.</param>
/// <param name="NormPrefix">The normalization layer's prefix, e.g. <c>layer1.0.bn1</c>.</param>
/// <param name="Target">What the preceding layer is; null: inferred from the weight's rank (linear for 2, convolution from 3).</param>
/// <param name="Eps">The normalization layer's eps (a checkpoint does not hold it); null: the command's <c>--eps</c>.</param>
/// <param name="Automatic">Found by <c>--auto</c> rather than given.</param>
public sealed record FoldPair(string WeightKey, string NormPrefix, FoldTarget? Target, double? Eps, bool Automatic = false)
{
    /// <summary>The syntax of <c>--pair</c>, for help and errors.</summary>
    public const string Syntax = "WEIGHT=NORM[,transposed][,groups=G][,eps=E]";

    /// <summary>The bias's key: the weight's with <c>.weight</c> replaced by <c>.bias</c>.</summary>
    public string BiasKey => WeightKey[..^".weight".Length] + ".bias";

    /// <summary>How the pair is written in the output: <c>conv1.weight=bn1</c>.</summary>
    public string Label => $"{WeightKey}={NormPrefix}";

    /// <summary>Reads one <c>--pair</c> value; throws <see cref="FormatException"/> saying what is wrong.</summary>
    /// <param name="text">e.g. <c>conv1.weight=bn1</c> or <c>up.weight=bn2,transposed,groups=2</c>.</param>
    public static FoldPair Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(',');
        int equals = parts[0].IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || equals == parts[0].Length - 1)
            throw new FormatException($"--pair '{text}' is not {Syntax} (e.g. conv1.weight=bn1).");
        string weight = parts[0][..equals], norm = parts[0][(equals + 1)..];
        if (!weight.EndsWith(".weight", StringComparison.Ordinal) || weight.Length == ".weight".Length)
            throw new FormatException($"--pair '{text}': WEIGHT must be a weight's full name ending in .weight (e.g. layer1.0.conv1.weight).");

        bool transposed = false;
        int groups = 1;
        double? eps = null;
        foreach (string option in parts.Skip(1))
        {
            if (option == "transposed") transposed = true;
            else if (option.StartsWith("groups=", StringComparison.Ordinal)
                     && int.TryParse(option["groups=".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int g) && g >= 1)
                groups = g;
            else if (option.StartsWith("eps=", StringComparison.Ordinal)
                     && double.TryParse(option["eps=".Length..], NumberStyles.Float, CultureInfo.InvariantCulture, out double e) && e >= 0 && double.IsFinite(e))
                eps = e;
            else
                throw new FormatException($"--pair '{text}': '{option}' is not one of transposed, groups=G (a whole number from 1), eps=E (a number from 0).");
        }

        FoldTarget? target = transposed ? FoldTarget.TransposedConvolution(groups) : groups > 1 ? FoldTarget.Convolution(groups) : null;
        return new FoldPair(weight, norm, target, eps);
    }
}
