namespace NormSharp;

/// <summary>The kinds of layer a normalization layer can be folded into (see <see cref="FoldTarget"/>).</summary>
public enum FoldTargetKind
{
    /// <summary>A linear layer: weight <c>[out, in]</c>.</summary>
    Linear,

    /// <summary>A convolution of any dimension: weight <c>[out, in/groups, k...]</c>.</summary>
    Convolution,

    /// <summary>A transposed convolution of any dimension: weight <c>[in, out/groups, k...]</c>.</summary>
    TransposedConvolution,
}

/// <summary>
/// The layer that precedes a normalization layer, as <see cref="Folding"/> needs to know it: where its weight keeps the
/// output channels, and its groups.
/// </summary>
/// <remarks>
/// A linear layer's and a convolution's output channel o is row o of the weight, whatever the groups. A transposed
/// convolution's weight is <c>[in, out/groups, k...]</c>: output channel <c>o = g·(out/groups) + j</c> is column j of the
/// rows of input channels in group g, so folding it needs the groups (PyTorch's <c>ConvTranspose2d(groups=...)</c>).
/// </remarks>
public sealed record FoldTarget
{
    private FoldTarget(FoldTargetKind kind, int groups)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        Kind = kind;
        Groups = groups;
    }

    /// <summary>What kind of layer.</summary>
    public FoldTargetKind Kind { get; }

    /// <summary>The layer's groups (1 for a linear layer).</summary>
    public int Groups { get; }

    /// <summary>A linear layer, weight <c>[out, in]</c> (PyTorch's <c>nn.Linear</c>).</summary>
    public static FoldTarget Linear { get; } = new(FoldTargetKind.Linear, 1);

    /// <summary>A convolution (<c>nn.Conv1d/2d/3d</c>), weight <c>[out, in/groups, k...]</c>; depthwise is groups = in.</summary>
    /// <param name="groups">The convolution's groups, at least 1.</param>
    public static FoldTarget Convolution(int groups = 1) => new(FoldTargetKind.Convolution, groups);

    /// <summary>A transposed convolution (<c>nn.ConvTranspose1d/2d/3d</c>), weight <c>[in, out/groups, k...]</c>.</summary>
    /// <param name="groups">The transposed convolution's groups, at least 1.</param>
    public static FoldTarget TransposedConvolution(int groups = 1) => new(FoldTargetKind.TransposedConvolution, groups);

    /// <summary>The target a weight of this rank implies when none is given: a linear layer for rank 2, a convolution of
    /// one group from rank 3 (a transposed convolution must be named).</summary>
    internal static FoldTarget Infer(int rank) => rank == 2 ? Linear : Convolution();

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        FoldTargetKind.Linear => "Linear",
        FoldTargetKind.Convolution => Groups == 1 ? "Convolution" : $"Convolution(groups={Groups})",
        _ => Groups == 1 ? "TransposedConvolution" : $"TransposedConvolution(groups={Groups})",
    };
}
