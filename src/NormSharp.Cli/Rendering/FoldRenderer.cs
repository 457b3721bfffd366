using System.Globalization;
using NormSharp.Cli.Folding;
using Spectre.Console;

namespace NormSharp.Cli.Rendering;

/// <summary>Prints what <c>fold</c> did: a summary line, a table with one row per folded pair and its check, and the
/// normalization layers <c>--auto</c> found no layer for.</summary>
public static class FoldRenderer
{
    /// <summary>Writes the summary, the pair table and the notes; names from the file are escaped
    /// (<see cref="TerminalText"/>).</summary>
    public static void Write(IAnsiConsole console, string summary, IReadOnlyList<FoldedPair> folded, IReadOnlyList<string> unpaired)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(folded);
        ArgumentNullException.ThrowIfNull(unpaired);
        int width = console.Profile.Width;
        console.WriteLines(TextWrap.Wrap(summary, width));
        if (folded.Count > 0)
        {
            console.WriteLine();
            var table = new TextTable(
                new TextColumn("layer"),
                new TextColumn("norm"),
                new TextColumn("C"),
                new TextColumn("counter"),
                new TextColumn("check"));
            foreach (FoldedPair pair in folded)
            {
                table.AddRow(
                    TerminalText.Escape(pair.Pair.WeightKey[..^".weight".Length]) + Kind(pair.Target),
                    TerminalText.Escape(pair.Pair.NormPrefix),
                    NumberText.Of(pair.Channels),
                    pair.Counter is long counter ? NumberText.Of(counter) : "-",
                    NumberText.Short(pair.Check.RelativeDifference));
            }

            console.WriteLines(table.Render(width));
            console.WriteLine();
            int added = folded.Count(p => p.BiasAdded), automatic = folded.Count(p => p.Pair.Automatic);
            console.WriteLines(TextWrap.Wrap(
                "check: each layer with its original weight and bias followed by the normalization in evaluation mode, against the " +
                "layer with the folded weight and bias as stored, on a probe input, in double: max |difference| / max(max |output|, 1). " +
                string.Create(CultureInfo.InvariantCulture, $"{automatic} pair(s) found by --auto; ") +
                string.Create(CultureInfo.InvariantCulture, $"a bias added to {added} layer(s) that had none; the normalization layers' tensors removed."), width));
        }

        if (unpaired.Count > 0)
        {
            console.WriteLine();
            console.WriteLines(TextWrap.Wrap(
                string.Create(CultureInfo.InvariantCulture, $"not folded ({unpaired.Count}; no conv/bn or Sequential neighbour with as many output channels; name them with --pair): ") +
                string.Join(", ", unpaired.Select(TerminalText.Escape)), width));
        }
    }

    private static string Kind(FoldTarget target) => target.Kind switch
    {
        FoldTargetKind.Linear => " (linear)",
        FoldTargetKind.Convolution => target.Groups == 1 ? "" : string.Create(CultureInfo.InvariantCulture, $" (groups {target.Groups})"),
        _ => target.Groups == 1 ? " (transposed)" : string.Create(CultureInfo.InvariantCulture, $" (transposed, groups {target.Groups})"),
    };
}
