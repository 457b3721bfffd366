using System.Text.RegularExpressions;

namespace NormSharp.Cli.Folding;

/// <summary>
/// <c>--auto</c>: pairs a checkpoint's normalization layers with the layer before them by ResNet's (torchvision's) names:
/// <c>PARENT.bnK</c> follows <c>PARENT.convK.weight</c>, and the normalization at <c>PARENT.K</c> of a Sequential follows
/// <c>PARENT.(K-1).weight</c> (<c>layer2.0.downsample.1</c> after <c>layer2.0.downsample.0</c>).
/// </summary>
/// <remarks>A checkpoint holds no graph, so names are all there is: a candidate is taken only when its weight exists, has
/// rank 2 or more and as many output channels (dim 0) as the normalization layer has channels. Transposed convolutions are
/// never guessed (their output channels are not dim 0): name them with <c>--pair</c>.</remarks>
public static partial class PairFinder
{
    /// <summary>The automatic pairs, and the normalization layers no candidate was found for.</summary>
    /// <param name="tensors">The checkpoint.</param>
    /// <param name="taken">Normalization prefixes already paired by hand (left out).</param>
    public static (IReadOnlyList<FoldPair> Pairs, IReadOnlyList<string> Unpaired) Find(StateDict tensors, ISet<string> taken)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(taken);
        var pairs = new List<FoldPair>();
        var unpaired = new List<string>();
        foreach (string norm in NormPrefixes(tensors).Where(p => !taken.Contains(p)))
        {
            long channels = tensors[norm + ".running_mean"].Shape is [long c] ? c : -1;
            string? weight = Candidates(norm).FirstOrDefault(key =>
                tensors.TryGetValue(key, out StateTensor? value) && value.Shape.Count >= 2 && value.Shape[0] == channels);
            if (weight is null) unpaired.Add(norm);
            else pairs.Add(new FoldPair(weight, norm, null, null, Automatic: true));
        }

        return (pairs, unpaired);
    }

    /// <summary>Prefixes that own both running statistics, in the checkpoint's order.</summary>
    public static IEnumerable<string> NormPrefixes(StateDict tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        return tensors.Keys.Where(k => k.EndsWith(".running_mean", StringComparison.Ordinal))
                      .Select(k => k[..^".running_mean".Length])
                      .Where(p => tensors.ContainsKey(p + ".running_var"));
    }

    private static IEnumerable<string> Candidates(string norm)
    {
        int dot = norm.LastIndexOf('.');
        string parent = dot < 0 ? "" : norm[..(dot + 1)], last = norm[(dot + 1)..];
        Match bn = BatchNormName().Match(last);
        if (bn.Success) yield return $"{parent}conv{bn.Groups["index"].Value}.weight";
        if (int.TryParse(last, out int index) && index > 0) yield return $"{parent}{index - 1}.weight";
    }

    [GeneratedRegex(@"^bn(?<index>\d*)$")]
    private static partial Regex BatchNormName();
}
