using System.Globalization;
using System.Numerics;

namespace NormSharp.Distributed.Tests.Scenarios;

/// <summary>
/// The invariant SyncBatchNorm promises, as one scenario that every rank of a process group runs: a few training and
/// evaluation steps, with flags changed between them, over a batch split unevenly (some shares empty) between the ranks.
/// Each rank also runs one <see cref="BatchNorm{T}"/> on the whole batch (the reference: the same on every rank) and checks
/// that its output rows, running statistics, counter and input-gradient rows equal the reference's, and that the
/// parameter gradients summed over the ranks equal the reference's. Shared by the in-process tests (threads) and the MPI
/// helper (one process per rank): every decision is drawn from the seed, so every rank draws the same scenario.
/// </summary>
internal sealed class EquivalenceScenario
{
    /// <summary>Draws the scenario of <paramref name="seed"/> for <paramref name="processes"/> ranks.</summary>
    public EquivalenceScenario(int seed, int processes, bool? useDouble = null, double? offset = null)
    {
        Seed = seed;
        Processes = processes;
        var random = new Random(seed);
        UseDouble = useDouble ?? random.Next(2) == 0;
        Rank = random.Next(2, 6);
        Channels = random.Next(1, 5);
        Spatial = [.. Enumerable.Range(0, Rank - 2).Select(_ => random.Next(1, 4))];
        ChannelsLastInput = Rank >= 4 && random.Next(2) == 0;
        Affine = random.Next(3) > 0;
        TrackRunningStats = random.Next(3) > 0;
        Momentum = random.Next(3) switch { 0 => null, 1 => 0.1, _ => 0.5 };
        Offset = offset ?? (random.Next(3) == 0 ? 1e4 : random.NextDouble() - 0.5);
        Steps = random.Next(2, 5);
    }

    /// <summary>The seed every decision is drawn from.</summary>
    public int Seed { get; }

    /// <summary>The number of ranks.</summary>
    public int Processes { get; }

    /// <summary>double (true) or float.</summary>
    public bool UseDouble { get; }

    /// <summary>The input's rank: 2 and 3 (BatchNorm1d), 4 (2d), 5 (3d).</summary>
    public int Rank { get; }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>The spatial lengths.</summary>
    public int[] Spatial { get; }

    /// <summary>Whether each rank's share is given channels-last (rank 4 and 5 only).</summary>
    public bool ChannelsLastInput { get; }

    /// <summary>The layers' affine flag.</summary>
    public bool Affine { get; }

    /// <summary>The layers' track_running_stats flag.</summary>
    public bool TrackRunningStats { get; }

    /// <summary>The layers' initial momentum.</summary>
    public double? Momentum { get; }

    /// <summary>The inputs' mean (std 1).</summary>
    public double Offset { get; }

    /// <summary>The number of steps.</summary>
    public int Steps { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"seed {Seed}: {Processes} processes, {(UseDouble ? "double" : "float")}, {Rank}-D, C={Channels}, spatial [{string.Join(", ", Spatial)}]" +
        $"{(ChannelsLastInput ? ", channels-last" : "")}, affine={Affine}, track={TrackRunningStats}, momentum={Momentum?.ToString(CultureInfo.InvariantCulture) ?? "null"}, " +
        $"mean {Offset.ToString("G3", CultureInfo.InvariantCulture)}, {Steps} steps";

    /// <summary>Runs the scenario as <paramref name="group"/>'s rank; throws on the first difference beyond tolerance.</summary>
    /// <returns>The worst differences seen, relative to each compared tensor's largest reference magnitude.</returns>
    public WorstErrors Run(IProcessGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (group.Size != Processes) throw new InvalidOperationException($"the scenario is drawn for {Processes} processes, the group has {group.Size}.");
        return UseDouble ? Run<double>(group) : Run<float>(group);
    }

    private WorstErrors Run<T>(IProcessGroup group) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Every rank draws the same steps and data from its own generator.
        var random = new Random(Seed * 7919 + 17);
        var worst = new WorstErrors();
        int spatial = Spatial.Aggregate(1, (a, b) => a * b);
        BatchNorm<T> reference = Rank switch
        {
            2 or 3 => new BatchNorm1d<T>(Channels, 1e-5, Momentum, Affine, TrackRunningStats),
            4 => new BatchNorm2d<T>(Channels, 1e-5, Momentum, Affine, TrackRunningStats),
            _ => new BatchNorm3d<T>(Channels, 1e-5, Momentum, Affine, TrackRunningStats),
        };
        var sync = new SyncBatchNorm<T>(Channels, 1e-5, Momentum, Affine, TrackRunningStats, group);
        if (Affine)
        {
            // Parameters other than 1 and 0, the same on every rank.
            var state = new StateDict();
            state.Add("weight", StateTensor.FromTensor(Tensor.Create(Draw<T>(random, Channels, 1, 0.5), [Channels])));
            state.Add("bias", StateTensor.FromTensor(Tensor.Create(Draw<T>(random, Channels, 0, 0.5), [Channels])));
            reference.LoadStateDict(state, strict: false);
            sync.LoadStateDict(state, strict: false);
        }

        for (int step = 0; step < Steps; step++)
        {
            // Live changes, the same on both layers.
            bool training = random.Next(4) > 0;
            if (random.Next(5) == 0) reference.Momentum = sync.Momentum = random.Next(2) == 0 ? null : 0.3;
            if (random.Next(6) == 0) reference.TrackRunningStats = sync.TrackRunningStats = !sync.TrackRunningStats;
            reference.Train(training);
            sync.Train(training);
            bool localStatistics = !training && reference.RunningMean is null;   // eval without buffers: each rank its own batch

            int[] shares = DrawShares(random, spatial, training, localStatistics);
            int total = shares.Sum(), first = shares.Take(group.Rank).Sum(), mine = shares[group.Rank];
            int row = Channels * spatial;
            T[] x = Draw<T>(random, total * row, Offset, 1.0);
            T[] dy = Draw<T>(random, total * row, 0, 1.0);
            nint[] fullShape = Shape(total), shareShape = Shape(mine);
            Tensor<T> share = Input(x.AsSpan(first * row, mine * row).ToArray(), shareShape);
            Tensor<T> dyShare = Input(dy.AsSpan(first * row, mine * row).ToArray(), shareShape);

            // The reference: the whole batch, or (evaluation without buffers) this rank's share alone.
            Tensor<T> referenceInput = localStatistics ? Tensor.Create(x.AsSpan(first * row, mine * row).ToArray(), shareShape) : Tensor.Create(x, fullShape);
            Tensor<T> referenceDy = localStatistics ? Tensor.Create(dy.AsSpan(first * row, mine * row).ToArray(), shareShape) : Tensor.Create(dy, fullShape);
            int referenceFirst = localStatistics ? 0 : first;
            bool referenceRuns = !localStatistics || mine * spatial != 1 && mine > 0;

            Tensor<T> y = sync.Forward(share);
            Tensor<T>? yReference = referenceRuns ? reference.Forward(referenceInput) : null;
            string where = $"{this}, step {step} ({(training ? "train" : "eval")}), rank {group.Rank}";
            if (yReference is not null) Compare(worst.Output, Values(yReference).AsSpan(referenceFirst * row, mine * row), Values(y), where + ", output");
            CompareOptional(worst.RunningStatistics, reference.RunningMean, sync.RunningMean, where + ", running_mean");
            CompareOptional(worst.RunningStatistics, reference.RunningVar, sync.RunningVar, where + ", running_var");
            if (reference.NumBatchesTracked != sync.NumBatchesTracked)
                throw new InvalidOperationException($"{where}: num_batches_tracked {sync.NumBatchesTracked}, the reference's {reference.NumBatchesTracked}");

            reference.ZeroGrad();
            sync.ZeroGrad();
            Tensor<T> dx = sync.Backward(dyShare);
            if (yReference is not null)
            {
                Tensor<T> dxReference = reference.Backward(referenceDy);
                Compare(worst.InputGradient, Values(dxReference).AsSpan(referenceFirst * row, mine * row), Values(dx), where + ", dx");
            }

            if (Affine && !localStatistics)
            {
                // PyTorch leaves the parameter gradients local; their sum over the ranks is the whole batch's.
                foreach ((Parameter<T> mineParameter, Parameter<T> referenceParameter, string name) in
                         new[] { (sync.Weight!, reference.Weight!, "dweight"), (sync.Bias!, reference.Bias!, "dbias") })
                {
                    double[] summed = mineParameter.Grad is null ? new double[Channels] : Values(mineParameter.Grad);
                    group.AllReduceSum(summed);
                    Compare(worst.ParameterGradient, Values(referenceParameter.Grad!), summed, $"{where}, {name} summed over the ranks");
                }
            }
        }

        return worst;
    }

    /// <summary>Each rank's batch size: uneven, some empty; a batch with more than one value per channel in training.</summary>
    private int[] DrawShares(Random random, int spatial, bool training, bool localStatistics)
    {
        while (true)
        {
            int[] shares = [.. Enumerable.Range(0, Processes).Select(_ => random.Next(0, 4))];
            long values = (long)shares.Sum() * spatial;
            if (training && values < 2) continue;
            if (!training && values == 0) continue;
            if (localStatistics && shares.Any(s => s * spatial == 1)) continue;
            return shares;
        }
    }

    private nint[] Shape(int batch) => [batch, Channels, .. Spatial.Select(s => (nint)s)];

    private Tensor<T> Input<T>(T[] values, nint[] shape)
    {
        Tensor<T> tensor = Tensor.Create(values, shape);
        return ChannelsLastInput ? ChannelsLast.From(tensor) : tensor;
    }

    private static T[] Draw<T>(Random random, int count, double mean, double std) where T : IFloatingPointIeee754<T>
    {
        var values = new T[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = T.CreateTruncating(mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return values;
    }

    private static double[] Values<T>(Tensor<T> tensor) where T : INumberBase<T>
    {
        var flat = new T[tensor.FlattenedLength];
        tensor.FlattenTo(flat);
        return [.. flat.Select(double.CreateTruncating)];
    }

    private void CompareOptional<T>(WorstError worst, Tensor<T>? expected, Tensor<T>? actual, string what) where T : INumberBase<T>
    {
        if ((expected is null) != (actual is null)) throw new InvalidOperationException($"{what}: exists on one side only");
        if (expected is not null) Compare(worst, Values(expected), Values(actual!), what);
    }

    /// <summary>|actual - expected| against the tensor's scale: its largest reference magnitude (at least 1) times the
    /// conditioning 1 + |mean| / std of inputs far from zero (their own rounding at that offset, a few units of
    /// 1e4·2^-53 in double, shows through any summation order: two layouts of one BatchNorm differ by that much).
    /// At most 1e-12 of the scale in double, 64 float roundings of it in float.</summary>
    private void Compare(WorstError worst, ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what)
    {
        if (expected.Length != actual.Length) throw new InvalidOperationException($"{what}: {actual.Length} values, the reference has {expected.Length}");
        double scale = 1;
        foreach (double e in expected) if (double.IsFinite(e)) scale = Math.Max(scale, Math.Abs(e));
        scale *= 1 + Math.Abs(Offset);
        double bound = UseDouble ? 1e-12 : 64 * Math.Pow(2, -24);
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNaN(expected[i]) && double.IsNaN(actual[i])) continue;
            double relative = Math.Abs(actual[i] - expected[i]) / scale;
            worst.Observe(relative);
            if (!(relative <= bound))
                throw new InvalidOperationException(
                    $"{what}[{i}]: {actual[i].ToString("R", CultureInfo.InvariantCulture)}, the reference {expected[i].ToString("R", CultureInfo.InvariantCulture)} " +
                    $"(relative {relative:E2} > {bound:E2})");
        }
    }
}

/// <summary>The largest relative difference seen in one kind of quantity.</summary>
internal sealed class WorstError
{
    /// <summary>The largest |actual - expected| / scale (see <c>EquivalenceScenario.Compare</c>).</summary>
    public double Relative { get; private set; }

    /// <summary>Records one difference.</summary>
    public void Observe(double relative) => Relative = Math.Max(Relative, relative);

    /// <summary>Takes the larger of both.</summary>
    public void Merge(WorstError other) => Observe(other.Relative);
}

/// <summary>The worst differences of a scenario, per quantity.</summary>
internal sealed class WorstErrors
{
    /// <summary>Outputs.</summary>
    public WorstError Output { get; } = new();

    /// <summary>Running mean and variance.</summary>
    public WorstError RunningStatistics { get; } = new();

    /// <summary>dx.</summary>
    public WorstError InputGradient { get; } = new();

    /// <summary>dweight and dbias summed over the ranks.</summary>
    public WorstError ParameterGradient { get; } = new();

    /// <summary>Takes the larger of both, per quantity.</summary>
    public void Merge(WorstErrors other)
    {
        Output.Merge(other.Output);
        RunningStatistics.Merge(other.RunningStatistics);
        InputGradient.Merge(other.InputGradient);
        ParameterGradient.Merge(other.ParameterGradient);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"output {Output.Relative:E2}, running statistics {RunningStatistics.Relative:E2}, dx {InputGradient.Relative:E2}, " +
        $"dweight/dbias summed {ParameterGradient.Relative:E2}";
}
