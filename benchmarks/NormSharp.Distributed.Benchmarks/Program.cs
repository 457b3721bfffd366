using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using NormSharp;
using NormSharp.Distributed;

// SyncBatchNorm's cost over one process's local BatchNorm, under an MPI launcher (benchmarks/run-distributed.sh):
//   mpirun -np 2 dotnet benchmarks/NormSharp.Distributed.Benchmarks/bin/Release/net10.0/NormSharp.Distributed.Benchmarks.dll [--out FILE]
// Every rank runs the same loops at the same time: first BatchNorm1d on its own share (no communication), then
// SyncBatchNorm on the same share (the batch is every rank's share). A BenchmarkDotNet job cannot run in lockstep on
// several processes, hence this harness: a barrier before each timed block, nine blocks of each layer per case, interleaved, the median block.
MpiProcessGroup world = MpiProcessGroup.World;
int outAt = Array.IndexOf(args, "--out");
string? outFile = outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : null;

// Each rank gets its share of the cores, as a data-parallel job would give it.
NormSharpOptions.MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount / world.Size);
var rows = new List<string>();
foreach (int channels in new[] { 64, 256, 1024 })
{
    foreach (int bytes in new[] { 64 << 10, 1 << 20, 4 << 20, 16 << 20 })
    {
        int batch = 4, spatial = Math.Max(1, bytes / sizeof(float) / (batch * channels));
        nint[] shape = [batch, channels, spatial];
        Tensor<float> x = Fill(shape, world.Rank), dy = Fill(shape, 100 + world.Rank);
        Tensor<float> y = Tensor.CreateFromShape<float>(shape), dx = Tensor.CreateFromShape<float>(shape);
        var local = new BatchNorm1d(channels);
        var sync = new SyncBatchNorm(channels);
        (double localTime, double syncTime) = Medians(world, () => { local.Forward(x, y); local.Backward(dy, dx); },
                                                      () => { sync.Forward(x, y); sync.Backward(dy, dx); });

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            sync.Forward(x, y);
            sync.Backward(dy, dx);
        }

        long allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / 20;
        rows.Add(string.Create(CultureInfo.InvariantCulture,
            $"| {channels} | {Size(bytes)} | {batch}x{channels}x{spatial} | {syncTime / localTime:F2} | {allocated} |"));
    }
}

if (world.Rank == 0)
{
    string cpu = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
        : "unknown";
    string table = string.Join('\n', [
        $"SyncBatchNorm forward+backward over BatchNorm1d forward+backward on one process's share, {world.Size} processes on one machine",
        $"({world.Library}, {cpu}, {Environment.ProcessorCount} cores, {NormSharpOptions.MaxDegreeOfParallelism} thread(s) per process; median of 9 interleaved blocks):",
        "",
        "| C | share | shape | time ratio (sync / local) | bytes allocated per step |",
        "|---|---|---|---|---|",
        .. rows]);
    Console.WriteLine(table);
    if (outFile is not null) File.WriteAllText(outFile, table + "\n");
}

static Tensor<float> Fill(nint[] shape, int seed)
{
    var random = new Random(seed);
    long count = shape.Aggregate(1L, (a, b) => a * b);
    var values = new float[count];
    for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
    return Tensor.Create(values, shape);
}

// The medians over nine timed blocks of each step's time, the two steps' blocks interleaved so that a change in the
// machine's load touches both alike; a block repeats its step until it takes about 50 ms (the counts decided on rank 0
// and broadcast, so that every rank runs as many steps: SyncBatchNorm's collectives must match).
static (double First, double Second) Medians(MpiProcessGroup world, Action first, Action second)
{
    double[] repeats = [Repeats(first), Repeats(second)];
    world.Broadcast(repeats, 0);
    var blocks = new double[2, 9];
    var clock = new Stopwatch();
    for (int block = 0; block < blocks.GetLength(1); block++)
    {
        for (int which = 0; which < 2; which++)
        {
            Action step = which == 0 ? first : second;
            world.Barrier();
            clock.Restart();
            for (int i = 0; i < repeats[which]; i++) step();
            blocks[which, block] = clock.Elapsed.TotalSeconds / repeats[which];
        }
    }

    return (Median(blocks, 0), Median(blocks, 1));

    static double Repeats(Action step)
    {
        for (int i = 0; i < 3; i++) step();
        var clock = Stopwatch.StartNew();
        step();
        return Math.Clamp(Math.Ceiling(0.05 / Math.Max(clock.Elapsed.TotalSeconds, 1e-7)), 1, 100_000);
    }

    static double Median(double[,] blocks, int which)
    {
        double[] times = [.. Enumerable.Range(0, blocks.GetLength(1)).Select(b => blocks[which, b])];
        Array.Sort(times);
        return times[times.Length / 2];
    }
}

static string Size(int bytes) => bytes >= 1 << 20 ? $"{bytes >> 20} MB" : $"{bytes >> 10} KB";
