using System.Globalization;
using CsCheck;

namespace NormSharp.Oracle.Tests.Cases;

/// <summary>
/// One random differential case for InstanceNorm1d/2d/3d (or their lazy forms): a configuration, a data distribution and
/// a sequence of 1 to 8 calls, including unbatched inputs, one spatial value, empty batches and channel mismatches.
/// </summary>
public sealed record InstanceNormCase(
    int Dims, bool Lazy, bool UseDouble, int Batch, int Channels, int[] Spatial, double Mean, double Std, double Eps,
    double? Momentum, bool Affine, bool TrackRunningStats, int DataSeed, OracleStep[] Steps, bool ChannelsLast)
{
    private static readonly (double Mean, double Std)[] Distributions = [(0, 1), (0, 1), (3, 0.5), (-50, 20), (1e3, 1), (1e4, 1), (0.5, 1e-3), (0, 1e3)];

    public string Module => $"{(Lazy ? "Lazy" : "")}InstanceNorm{Dims}d";

    private static Gen<double?> MomentumGen { get; } =
        Gen.Frequency((2, Gen.Const((double?)0.1)), (2, Gen.Const((double?)null)), (2, Gen.Double[0, 1].Select(m => (double?)m)), (1, Pick<double?>(0.0, 1.0)));

    private static Gen<OracleStep> StepGen { get; } =
        Gen.Frequency(
            (10, Pick(1, 2, 3, 4).Select(n => new OracleStep(StepKind.Forward, n))),
            (3, Gen.Const(new OracleStep(StepKind.ForwardUnbatched, 1))),
            (4, Gen.Const(new OracleStep(StepKind.Train))),
            (4, Gen.Const(new OracleStep(StepKind.Eval))),
            (3, Gen.Bool.Select(b => new OracleStep(StepKind.SetTrackRunningStats, Flag: b))),
            (2, MomentumGen.Select(m => new OracleStep(StepKind.SetMomentum, Number: m))),
            (1, Pick(1e-5, 1e-3, 0.5).Select(e => new OracleStep(StepKind.SetEps, Number: e))),
            (2, Gen.Bool.Select(b => new OracleStep(StepKind.SetAffine, Flag: b))),
            (1, Gen.Const(new OracleStep(StepKind.ResetRunningStats))),
            (1, Gen.Const(new OracleStep(StepKind.ResetParameters))),
            (2, Gen.Const(new OracleStep(StepKind.ForwardOneValuePerChannel, 2))),
            (1, Gen.Const(new OracleStep(StepKind.ForwardEmptyBatch, 0))),
            (2, Gen.Const(new OracleStep(StepKind.ForwardChannelMismatch, 2))),
            (1, Gen.Const(new OracleStep(StepKind.ForwardWrongRank, 2))));

    public static Gen<InstanceNormCase> Generator { get; } =
        from dims in Gen.Int[1, 3]
        from lazy in Gen.Frequency((4, Gen.Const(false)), (1, Gen.Const(true)))
        from useDouble in Gen.Bool
        from batch in Pick(1, 2, 3, 4, 6)
        from channels in Pick(1, 2, 3, 5, 8, 17)
        from spatial in Pick(1, 2, 3, 5, 7, 16).Array[dims]
        from distribution in Gen.Int[0, Distributions.Length - 1]
        from eps in Pick(1e-5, 1e-5, 1e-3, 0.1)
        from momentum in MomentumGen
        from affine in Gen.Bool
        from track in Gen.Bool
        from seed in Gen.Int
        from steps in StepGen.Array[1, 8]
        from channelsLast in Gen.Bool
        select new InstanceNormCase(dims, lazy, useDouble, batch, channels, spatial, Distributions[distribution].Mean,
                                    Distributions[distribution].Std, eps, momentum, affine, track, seed, steps, channelsLast && dims >= 2);

    private static Gen<T> Pick<T>(params T[] values) => Gen.Int[0, values.Length - 1].Select(i => values[i]);

    /// <summary>The input shape of a forward step.</summary>
    public long[] InputShape(OracleStep step)
    {
        int channels = step.Kind == StepKind.ForwardChannelMismatch ? Channels + 1 : Channels;
        IEnumerable<long> spatial = step.Kind == StepKind.ForwardOneValuePerChannel ? Spatial.Select(_ => 1L) : Spatial.Select(s => (long)s);
        if (step.Kind == StepKind.ForwardWrongRank) spatial = spatial.Append(2);
        if (step.Kind == StepKind.ForwardUnbatched) return new long[] { channels }.Concat(spatial).ToArray();
        int batch = step.Kind == StepKind.Forward ? step.Batch * Batch : step.Batch;
        return new long[] { batch, channels }.Concat(spatial).ToArray();
    }

    /// <summary>Values of the input of step <paramref name="index"/>.</summary>
    public double[] InputValues(long[] shape, int index)
    {
        var random = new Random(HashCode.Combine(DataSeed, index));
        var values = new double[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < values.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double v = Mean + Std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
            values[i] = UseDouble ? v : (float)v;
        }

        return values;
    }

    /// <summary>Initial weight and bias when affine (not the defaults).</summary>
    public (double[] Weight, double[] Bias) AffineValues()
    {
        var random = new Random(DataSeed ^ 0x5bd1e995);
        double[] weight = Enumerable.Range(0, Channels).Select(_ => UseDouble ? 0.5 + 1.5 * random.NextDouble() : (float)(0.5 + 1.5 * random.NextDouble())).ToArray();
        double[] bias = Enumerable.Range(0, Channels).Select(_ => UseDouble ? random.NextDouble() - 0.5 : (float)(random.NextDouble() - 0.5)).ToArray();
        return (weight, bias);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Module}({(Lazy ? "" : $"{Channels}, ")}eps={Eps}, momentum={(Momentum is double m ? m.ToString("R", CultureInfo.InvariantCulture) : "None")}, " +
        $"affine={Affine}, track_running_stats={TrackRunningStats}) {(UseDouble ? "float64" : "float32")}, input [{Batch}, {Channels}" +
        $"{string.Concat(Spatial.Select(s => $", {s}"))}]{(ChannelsLast ? " channels-last in NormSharp" : "")} ~ N({Mean}, {Std}^2), data seed {DataSeed}; " +
        $"steps: {string.Join(", ", Steps.Select(s => s.ToString()))}");
}
