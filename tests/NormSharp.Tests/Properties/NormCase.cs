using CsCheck;

namespace NormSharp.Tests.Properties;

/// <summary>A random (N, C, *) input for property tests, with its own offset and scale per case.</summary>
public sealed record NormCase(nint[] Shape, double[] Values)
{
    public int N => (int)Shape[0];

    public int C => (int)Shape[1];

    public int S => (int)(Values.Length / Math.Max(1, N * C));

    /// <summary>Shapes of every rank BatchNorm accepts (N ≥ 2 so no one-value channels), values offset and scaled.</summary>
    public static Gen<NormCase> Gen { get; } =
        from rank in CsCheck.Gen.Int[2, 5]
        from n in CsCheck.Gen.Int[2, 6]
        from c in CsCheck.Gen.Int[1, 5]
        from spatial in CsCheck.Gen.Int[1, 4].Array[rank - 2]
        let shape = new[] { (nint)n, c }.Concat(spatial.Select(s => (nint)s)).ToArray()
        from offset in CsCheck.Gen.Double[-50, 50]
        from scale in CsCheck.Gen.Double[0.01, 10]
        from raw in CsCheck.Gen.Double[-1, 1].Array[(int)shape.Aggregate(1L, (a, b) => a * b)]
        select new NormCase(shape, raw.Select(v => offset + scale * v).ToArray());

    public Tensor<double> Doubles() => Tensor.Create((double[])Values.Clone(), Shape);

    public Tensor<float> Floats() => Tensor.Create(Values.Select(v => (float)v).ToArray(), Shape);

    public BatchNorm<T> Layer<T>(double? momentum = 0.1, bool affine = true, bool track = true)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => Shape.Length switch
    {
        2 or 3 => new BatchNorm1d<T>(C, momentum: momentum, affine: affine, trackRunningStats: track),
        4 => new BatchNorm2d<T>(C, momentum: momentum, affine: affine, trackRunningStats: track),
        _ => new BatchNorm3d<T>(C, momentum: momentum, affine: affine, trackRunningStats: track),
    };

    public override string ToString() => $"shape [{string.Join(", ", Shape)}], first values [{string.Join(", ", Values.Take(4))}]";
}
