namespace NormSharp.Cli.Observation;

/// <summary>A module the CLI can build by name, with the input shapes it observes it on.</summary>
/// <param name="Name">The CLI name, e.g. <c>batchnorm2d</c>.</param>
/// <param name="Create">Builds the layer in double precision: (numFeatures, eps, momentum, affine, trackRunningStats).</param>
/// <param name="SpatialRank">Number of spatial dimensions of the observed input (0 for BatchNorm1d's (N, C)).</param>
/// <param name="IsInstanceNorm">True for the InstanceNorm family (statistics per sample and channel).</param>
public sealed record ModuleKind(string Name, Func<int, double, double?, bool, bool, NormBase<double>> Create, int SpatialRank, bool IsInstanceNorm = false)
{
    /// <summary>Every module the CLI knows, by name.</summary>
    public static IReadOnlyList<ModuleKind> All { get; } =
    [
        new("batchnorm1d", (c, eps, m, a, t) => new BatchNorm1d<double>(c, eps, m, a, t), 0),
        new("batchnorm2d", (c, eps, m, a, t) => new BatchNorm2d<double>(c, eps, m, a, t), 2),
        new("batchnorm3d", (c, eps, m, a, t) => new BatchNorm3d<double>(c, eps, m, a, t), 3),
        new("instancenorm1d", (c, eps, m, a, t) => new InstanceNorm1d<double>(c, eps, m, a, t), 1, true),
        new("instancenorm2d", (c, eps, m, a, t) => new InstanceNorm2d<double>(c, eps, m, a, t), 2, true),
        new("instancenorm3d", (c, eps, m, a, t) => new InstanceNorm3d<double>(c, eps, m, a, t), 3, true),
    ];

    /// <summary>The kind with this name, in any case (<c>BatchNorm2d</c> is <c>batchnorm2d</c>), or null.</summary>
    public static ModuleKind? Find(string name) =>
        All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The kind with this name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No module has this name.</exception>
    public static ModuleKind Named(string name) =>
        Find(name)
        ?? throw new ArgumentException($"unknown module '{name}'; expected one of: {string.Join(", ", All.Select(k => k.Name))}.");

    /// <summary>The input shape (batch, channels, then 2 per spatial dimension, 3 for InstanceNorm), or 1 per spatial
    /// dimension when <paramref name="spatialOne"/>.</summary>
    public nint[] Shape(int batch, int channels, bool spatialOne = false)
    {
        var shape = new nint[2 + SpatialRank];
        shape[0] = batch;
        shape[1] = channels;
        for (int d = 2; d < shape.Length; d++) shape[d] = spatialOne ? 1 : SpatialLength;
        return shape;
    }

    /// <summary>The number of values one sample of <see cref="Shape"/> holds: C times the spatial sizes.</summary>
    public long ValuesPerSample(int channels) => channels * (long)Math.Pow(SpatialLength, SpatialRank);

    private int SpatialLength => IsInstanceNorm ? 3 : 2;
}
