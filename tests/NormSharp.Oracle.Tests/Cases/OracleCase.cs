using System.Globalization;
using CsCheck;

namespace NormSharp.Oracle.Tests.Cases;

/// <summary>
/// One random differential case: a layer configuration, a data distribution and a sequence of 1 to 8
/// calls. Its text (printed by CsCheck on failure, with the seed) is everything needed to reproduce it.
/// </summary>
public sealed record OracleCase(
    int Rank, bool UseDouble, int Batch, int Channels, int[] Spatial, double Mean, double Std, double Eps,
    double? Momentum, bool Affine, bool TrackRunningStats, int DataSeed, OracleStep[] Steps, bool ChannelsLast = false, bool Lazy = false)
{
    private static readonly (double Mean, double Std)[] Distributions =
        [(0, 1), (0, 1), (3, 0.5), (-50, 20), (1e3, 1), (1e4, 1), (0.5, 1e-3), (0, 1e3)];

    /// <summary>The module under test, e.g. <c>BatchNorm2d</c>.</summary>
    public string Module => (Lazy ? "Lazy" : "") + Rank switch { 2 or 3 => "BatchNorm1d", 4 => "BatchNorm2d", _ => "BatchNorm3d" };

    private static Gen<double?> MomentumGen { get; } =
        CsCheck.Gen.Frequency(
            (2, CsCheck.Gen.Const((double?)0.1)),
            (2, CsCheck.Gen.Const((double?)null)),
            (2, CsCheck.Gen.Double[0, 1].Select(m => (double?)m)),
            (1, Pick<double?>(0.0, 1.0)));

    private static Gen<OracleStep> StepGen { get; } =
        CsCheck.Gen.Frequency(
            (10, Pick(2, 3, 4, 8).Select(n => new OracleStep(StepKind.Forward, n))),
            (4, CsCheck.Gen.Const(new OracleStep(StepKind.Train))),
            (4, CsCheck.Gen.Const(new OracleStep(StepKind.Eval))),
            (3, CsCheck.Gen.Bool.Select(b => new OracleStep(StepKind.SetTrackRunningStats, Flag: b))),
            (2, MomentumGen.Select(m => new OracleStep(StepKind.SetMomentum, Number: m))),
            (1, Pick(1e-5, 1e-3, 0.5).Select(e => new OracleStep(StepKind.SetEps, Number: e))),
            (1, CsCheck.Gen.Bool.Select(b => new OracleStep(StepKind.SetAffine, Flag: b))),
            (1, CsCheck.Gen.Const(new OracleStep(StepKind.ResetRunningStats))),
            (1, CsCheck.Gen.Const(new OracleStep(StepKind.ResetParameters))),
            (2, CsCheck.Gen.Const(new OracleStep(StepKind.ForwardOneValuePerChannel, 1))),
            (1, CsCheck.Gen.Const(new OracleStep(StepKind.ForwardEmptyBatch, 0))),
            (1, CsCheck.Gen.Const(new OracleStep(StepKind.ForwardChannelMismatch, 3))),
            (1, CsCheck.Gen.Const(new OracleStep(StepKind.ForwardWrongRank, 3))));

    public static Gen<OracleCase> Gen { get; } =
        from rank in CsCheck.Gen.Int[2, 5]
        from useDouble in CsCheck.Gen.Bool
        from batch in Pick(2, 2, 3, 4, 5, 7, 8, 16)
        from channels in Pick(1, 1, 2, 3, 5, 8, 24, 40)
        from spatial in Pick(1, 1, 2, 3, 5, 7).Array[rank - 2]
        from distribution in CsCheck.Gen.Int[0, Distributions.Length - 1]
        from eps in Pick(1e-5, 1e-5, 1e-3, 0.1)
        from momentum in MomentumGen
        from affine in CsCheck.Gen.Bool
        from track in CsCheck.Gen.Frequency((3, CsCheck.Gen.Const(true)), (1, CsCheck.Gen.Const(false)))
        from seed in CsCheck.Gen.Int
        from steps in StepGen.Array[1, 8]
        from channelsLast in CsCheck.Gen.Bool
        from lazy in CsCheck.Gen.Frequency((7, CsCheck.Gen.Const(false)), (1, CsCheck.Gen.Const(true)))
        select new OracleCase(rank, useDouble, batch, channels, spatial, Distributions[distribution].Mean, Distributions[distribution].Std,
                              eps, momentum, affine, track, seed, steps, channelsLast && rank >= 4, lazy);

    /// <summary>One of the given values, uniformly (shrinks towards the first).</summary>
    private static Gen<T> Pick<T>(params T[] values) => CsCheck.Gen.Int[0, values.Length - 1].Select(i => values[i]);

    /// <summary>The input shape of a forward step.</summary>
    public long[] InputShape(OracleStep step)
    {
        int channels = step.Kind == StepKind.ForwardChannelMismatch ? Channels + 1 : Channels;
        IEnumerable<long> spatial = step.Kind == StepKind.ForwardOneValuePerChannel ? Spatial.Select(_ => 1L) : Spatial.Select(s => (long)s);
        if (step.Kind == StepKind.ForwardWrongRank) spatial = Rank == 5 ? spatial.Skip(1) : spatial.Append(2);
        int batch = step.Kind == StepKind.Forward ? step.Batch * Batch / 2 : step.Batch;
        return new long[] { batch, channels }.Concat(spatial).ToArray();
    }

    /// <summary>Values of the input of step <paramref name="index"/>: normal with this case's mean and std.</summary>
    public double[] InputValues(long[] shape, int index)
    {
        var random = new Random(HashCode.Combine(DataSeed, index));
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new double[count];
        for (int i = 0; i < values.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = Mean + Std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }

        // Float cases compare float inputs: round once, here, so both sides see the same values.
        if (!UseDouble) for (int i = 0; i < values.Length; i++) values[i] = (float)values[i];
        return values;
    }

    /// <summary>Initial weight and bias when affine (not the defaults, so that the affine path is exercised).</summary>
    public (double[] Weight, double[] Bias) AffineValues()
    {
        var random = new Random(DataSeed ^ 0x5bd1e995);
        double[] weight = Enumerable.Range(0, Channels).Select(_ => UseDouble ? 0.5 + 1.5 * random.NextDouble() : (float)(0.5 + 1.5 * random.NextDouble())).ToArray();
        double[] bias = Enumerable.Range(0, Channels).Select(_ => UseDouble ? random.NextDouble() - 0.5 : (float)(random.NextDouble() - 0.5)).ToArray();
        return (weight, bias);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Module}({(Lazy ? "" : Channels.ToString(CultureInfo.InvariantCulture) + ", ")}eps={Eps}, momentum={(Momentum is double m ? m.ToString("R", CultureInfo.InvariantCulture) : "None")}, " +
        $"affine={Affine}, track_running_stats={TrackRunningStats}) {(UseDouble ? "float64" : "float32")}, " +
        $"input [{Batch}, {Channels}{string.Concat(Spatial.Select(s => $", {s}"))}] (rank {Rank}{(ChannelsLast ? ", channels-last in NormSharp" : "")}) ~ N({Mean}, {Std}^2), data seed {DataSeed}; " +
        $"steps: {string.Join(", ", Steps.Select(s => s.ToString()))}");
}
