namespace NormSharp.Cli.Plotting;

/// <summary>
/// The data <c>plot running-stats</c> feeds a layer: batches of one feature drawn from a normal population whose mean and
/// variance change halfway: mean 0 and variance 1 for the first half of the steps, mean 3 and variance 4 after. The
/// batches are a function of the seed alone (<see cref="Random"/>, Box–Muller), so a test can replay them.
/// </summary>
public sealed class ShiftingPopulation
{
    /// <summary>The population mean before the shift.</summary>
    public const double MeanBefore = 0;

    /// <summary>The population variance before the shift.</summary>
    public const double VarianceBefore = 1;

    /// <summary>The population mean after the shift.</summary>
    public const double MeanAfter = 3;

    /// <summary>The population variance after the shift.</summary>
    public const double VarianceAfter = 4;

    /// <summary>A stream of <paramref name="steps"/> batches of <paramref name="batch"/> values.</summary>
    public ShiftingPopulation(int steps, int batch, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        Steps = steps;
        Batch = batch;
        Seed = seed;
    }

    /// <summary>How many batches.</summary>
    public int Steps { get; }

    /// <summary>Values per batch.</summary>
    public int Batch { get; }

    /// <summary>The seed of the batches.</summary>
    public int Seed { get; }

    /// <summary>The first step (1-based) drawn from the shifted population.</summary>
    public int ShiftStep => Steps / 2 + 1;

    /// <summary>The population mean that step <paramref name="step"/> (1-based) is drawn from.</summary>
    public double Mean(int step) => step < ShiftStep ? MeanBefore : MeanAfter;

    /// <summary>The population variance that step <paramref name="step"/> (1-based) is drawn from.</summary>
    public double Variance(int step) => step < ShiftStep ? VarianceBefore : VarianceAfter;

    /// <summary>The batches, in order: step 1 first, each <see cref="Batch"/> float32 values.</summary>
    public IEnumerable<float[]> Batches()
    {
        var random = new Random(Seed);
        for (int step = 1; step <= Steps; step++)
        {
            double mean = Mean(step), deviation = Math.Sqrt(Variance(step));
            var values = new float[Batch];
            for (int i = 0; i < Batch; i++)
                values[i] = (float)(mean + deviation * Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble()));
            yield return values;
        }
    }
}
