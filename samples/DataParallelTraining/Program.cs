using System.Globalization;
using System.Numerics;
using DataParallelTraining;
using NormSharp.Distributed;

// mpirun -np 2 dotnet samples/DataParallelTraining/bin/Debug/net10.0/DataParallelTraining.dll [--double] [--epochs N]
// (without mpirun: one process, which is its own whole batch)
bool useDouble = args.Contains("--double");
int epochsAt = Array.IndexOf(args, "--epochs");
var options = new DataParallel.Options();
if (epochsAt >= 0 && epochsAt + 1 < args.Length) options = options with { Epochs = int.Parse(args[epochsAt + 1], CultureInfo.InvariantCulture) };

MpiProcessGroup world = MpiProcessGroup.World;
return useDouble ? Run<double>(1e-12) : Run<float>(1e-5);

int Run<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
{
    DataParallel.Result parallel = DataParallel.Train<T>(options, world);
    DataParallel.Result alone = DataParallel.Train<T>(options, null);   // every process checks against the same one-process run
    double lossDifference = Largest(parallel.Losses, alone.Losses), weightDifference = Largest(parallel.Weights, alone.Weights);
    if (world.Rank == 0)
    {
        Console.WriteLine($"Data-parallel training over {world.Size} process(es), {(typeof(T) == typeof(float) ? "float" : "double")}, batch {options.BatchSize} split between them:");
        for (int epoch = 0; epoch < options.Epochs; epoch++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  epoch {epoch + 1,2}  loss {parallel.Losses[epoch]:F6}   one process on whole batches: {alone.Losses[epoch]:F6}"));
    }

    bool ok = lossDifference <= tolerance && weightDifference <= tolerance;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"rank {world.Rank}/{world.Size}: largest relative difference from one process on whole batches: losses {lossDifference:E2}, " +
        $"weights and running statistics {weightDifference:E2} (tolerance {tolerance:E0}): {(ok ? "equal" : "DIFFERENT")}"));
    return ok ? 0 : 1;
}

static double Largest(double[] actual, double[] expected)
{
    double largest = 0;
    for (int i = 0; i < actual.Length; i++) largest = Math.Max(largest, Math.Abs(actual[i] - expected[i]) / Math.Max(1, Math.Abs(expected[i])));
    return largest;
}
