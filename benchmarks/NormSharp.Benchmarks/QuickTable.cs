using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace NormSharp.Benchmarks;

/// <summary>
/// The quick mode: a stopwatch harness over the same benchmark methods, every operation of a shape timed in turn in each
/// round (NormSharp, libtorch and the copies interleaved, so that a slow spell of a shared machine hits all of them), then
/// per operation the median over rounds, and per ratio the median and range of the per-round ratios.
/// </summary>
/// <remarks>dotnet NormSharp.Benchmarks.dll --quick [--rounds 7] [--sample-ms 40] [--shapes 56x56,NHWC] [--threads 1,2] [--ops ns-train,lt-train]
/// [--batchnorm-only] [--cpu] [--out FILE]; --ab: the library's previous memory paths against the current ones (benchmark-only
/// switches); --profile SHAPE OP THREADS SECONDS: one operation in a loop, for a profiler.</remarks>
public static class QuickTable
{
    private sealed record Op(string Name, Action Run);

    private sealed record Measured(Dictionary<string, double[]> Samples)
    {
        public double Median(string op) => Samples.TryGetValue(op, out double[]? s) ? MedianOf(s) : double.NaN;

        /// <summary>Per-round ratio a/b: median, low, high.</summary>
        public (double Median, double Low, double High) Ratio(string numerator, string denominator)
        {
            if (!Samples.TryGetValue(numerator, out double[]? a) || !Samples.TryGetValue(denominator, out double[]? b)) return (double.NaN, double.NaN, double.NaN);
            double[] r = a.Zip(b, (x, y) => x / y).ToArray();
            return (MedianOf(r), r.Min(), r.Max());
        }
    }

    /// <summary>--cpu: samples in processor time (meaningful on one thread only).</summary>
    private static bool CpuTime { get; set; }

    public static string Run(string[] args)
    {
        CpuTime = args.Contains("--cpu");
        int rounds = IntOption(args, "--rounds", 7);
        double sampleMs = IntOption(args, "--sample-ms", 40);
        string[] shapeFilter = Option(args, "--shapes")?.Split(',') ?? [];
        int[] threadList = Option(args, "--threads")?.Split(',').Select(int.Parse).ToArray() ?? [1, 2];
        string[] opFilter = Option(args, "--ops")?.Split(',') ?? [];
        bool Wanted(BenchmarkShape s) => shapeFilter.Length == 0 || shapeFilter.Any(f => s.ToString().Contains(f, StringComparison.Ordinal));

        if (args.Contains("--ab")) return AB(args, rounds, sampleMs, threadList, Wanted);

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores; .NET {Environment.Version}; " +
                        $"libtorch {TorchSharp.torch.__version__} (TorchSharp); float32; {rounds} rounds of interleaved samples of about {sampleMs} ms.");
        text.AppendLine();
        text.AppendLine("Ratios = libtorch time / NormSharp time, median of the per-round ratios [lowest - highest]. Bandwidth: a same-size copy's time / " +
                        "NormSharp's time (read x, write y: the bytes of one copy); NT = the non-temporal copy; copies threaded like the kernels.");
        text.AppendLine();
        text.AppendLine("| shape | threads | train fwd | train fwd (allocating) | eval fwd | fwd+bwd | train: copy bw | eval: NT copy bw | copy / NT copy GB/s | NormSharp ns per call (train / eval / fwd+bwd) |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (BenchmarkShape shape in BenchmarkShape.All.Where(Wanted))
            foreach (int threads in threadList)
            {
                var bench = new BatchNormBenchmarks { Shape = shape, Threads = threads };
                bench.Setup();
                using var copy = new CopyReference(new float[shape.Elements]);
                Op[] ops =
                [
                    new("ns-train", bench.NormSharpTrainForward), new("ns-train-alloc", () => bench.NormSharpTrainForwardAllocating()),
                    new("lt-train", bench.TorchTrainForward), new("ns-eval", bench.NormSharpEvalForward), new("lt-eval", bench.TorchEvalForward),
                    new("ns-fb", bench.NormSharpForwardBackward), new("lt-fb", bench.TorchForwardBackward),
                    new("copy", copy.Copy), new("ntcopy", copy.CopyNonTemporal),
                ];
                Measured m = Measure(ops.Where(o => opFilter.Length == 0 || opFilter.Contains(o.Name) || o.Name.Contains("copy")).ToArray(), rounds, sampleMs);
                double bytes = 2.0 * shape.Elements * sizeof(float);
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {shape} | {threads} | {R(m, "lt-train", "ns-train")} | {R(m, "lt-train", "ns-train-alloc")} | {R(m, "lt-eval", "ns-eval")} | " +
                    $"{R(m, "lt-fb", "ns-fb")} | {P(m, "copy", "ns-train")} | {P(m, "ntcopy", "ns-eval")} | " +
                    $"{bytes / m.Median("copy"):F1} / {bytes / m.Median("ntcopy"):F1} | " +
                    $"{m.Median("ns-train"):F0} / {m.Median("ns-eval"):F0} / {m.Median("ns-fb"):F0} |");
                Console.WriteLine(text.ToString().Split('\n')[^2]);
            }

        text.AppendLine();
        text.AppendLine("| InstanceNorm2d shape | threads | fwd | fwd+bwd | fwd: copy bw | NormSharp ns per call (fwd / fwd+bwd) |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (BenchmarkShape shape in BenchmarkShape.InstanceNorm.Where(s => Wanted(s) && !args.Contains("--batchnorm-only")))
            foreach (int threads in threadList)
            {
                var bench = new InstanceNormBenchmarks { Shape = shape, Threads = threads };
                bench.Setup();
                using var copy = new CopyReference(new float[shape.Elements]);
                Op[] ops =
                [
                    new("ns-train", bench.NormSharpTrainForward), new("lt-train", bench.TorchTrainForward),
                    new("ns-fb", bench.NormSharpForwardBackward), new("lt-fb", bench.TorchForwardBackward), new("copy", copy.Copy),
                ];
                Measured m = Measure(ops.Where(o => opFilter.Length == 0 || opFilter.Contains(o.Name) || o.Name.Contains("copy")).ToArray(), rounds, sampleMs);
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {shape} | {threads} | {R(m, "lt-train", "ns-train")} | {R(m, "lt-fb", "ns-fb")} | {P(m, "copy", "ns-train")} | " +
                    $"{m.Median("ns-train"):F0} / {m.Median("ns-fb"):F0} |");
                Console.WriteLine(text.ToString().Split('\n')[^2]);
            }

        return text.ToString();
    }

    /// <summary>The library's benchmark-only switches: the previous kernels (<paramref name="old"/>) or the current ones.</summary>
    private static void UseOld(bool old)
    {
        NormLayout.SerialBelowElements = old && Environment.GetEnvironmentVariable("NORMSHARP_BENCH_OLD_SERIAL") != "1" ? 0 : NormLayout.SmallElements;
        BatchNormExecution.RowsInFoursSwitch = old && Environment.GetEnvironmentVariable("NORMSHARP_BENCH_OLD_ROWS") != "1";
        OutputStores.PrefetchFromBytes = old && Environment.GetEnvironmentVariable("NORMSHARP_BENCH_OLD_PREFETCH") != "1" ? long.MaxValue : 2L << 20;
        OutputStores.NonTemporalAboveBytes = old && Environment.GetEnvironmentVariable("NORMSHARP_BENCH_OLD_NT") != "1" ? long.MaxValue : OutputStores.LastLevelCacheBytes;
    }

    private static Action Old(Action run) => () =>
    {
        UseOld(true);
        try
        {
            run();
        }
        finally
        {
            UseOld(false);
        }
    };

    /// <summary>--ab: NormSharp with the previous kernels against the current ones in the same rounds: time old / new.</summary>
    private static string AB(string[] args, int rounds, double sampleMs, int[] threadList, Func<BenchmarkShape, bool> wanted)
    {
        var text = new StringBuilder("| shape | threads | train old/new | eval old/new | fwd+bwd old/new | new ns (train / eval / fwd+bwd) |\n|---|---|---|---|---|---|\n");
        foreach (BenchmarkShape shape in BenchmarkShape.All.Where(wanted))
            foreach (int threads in threadList)
            {
                var bench = new BatchNormBenchmarks { Shape = shape, Threads = threads };
                bench.Setup();
                Op[] ops =
                [
                    new("train", bench.NormSharpTrainForward), new("train-old", Old(bench.NormSharpTrainForward)),
                    new("eval", bench.NormSharpEvalForward), new("eval-old", Old(bench.NormSharpEvalForward)),
                    new("fb", bench.NormSharpForwardBackward), new("fb-old", Old(bench.NormSharpForwardBackward)),
                ];
                Measured m = Measure(ops, rounds, sampleMs);
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {shape} | {threads} | {R(m, "train-old", "train")} | {R(m, "eval-old", "eval")} | {R(m, "fb-old", "fb")} | " +
                    $"{m.Median("train"):F0} / {m.Median("eval"):F0} / {m.Median("fb"):F0} |");
                Console.WriteLine(text.ToString().Split('\n')[^2]);
            }

        foreach (BenchmarkShape shape in BenchmarkShape.InstanceNorm.Where(wanted))
            foreach (int threads in threadList)
            {
                var bench = new InstanceNormBenchmarks { Shape = shape, Threads = threads };
                bench.Setup();
                Op[] ops =
                [
                    new("train", bench.NormSharpTrainForward), new("train-old", Old(bench.NormSharpTrainForward)),
                    new("fb", bench.NormSharpForwardBackward), new("fb-old", Old(bench.NormSharpForwardBackward)),
                ];
                Measured m = Measure(ops, rounds, sampleMs);
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| IN {shape} | {threads} | {R(m, "train-old", "train")} | - | {R(m, "fb-old", "fb")} | {m.Median("train"):F0} / - / {m.Median("fb"):F0} |");
                Console.WriteLine(text.ToString().Split('\n')[^2]);
            }

        return text.ToString();
    }

    /// <summary>Runs one operation of one shape in a loop for a while (for a profiler): --profile SHAPE OP THREADS SECONDS.</summary>
    public static void Profile(string[] args)
    {
        int at = Array.IndexOf(args, "--profile");
        string shapeName = args[at + 1], opName = args[at + 2];
        int threads = int.Parse(args[at + 3], CultureInfo.InvariantCulture);
        double seconds = double.Parse(args[at + 4], CultureInfo.InvariantCulture);
        Action run;
        BenchmarkShape? shape = BenchmarkShape.All.FirstOrDefault(s => s.ToString() == shapeName);
        if (shape is not null && !opName.StartsWith("in-", StringComparison.Ordinal))
        {
            var bench = new BatchNormBenchmarks { Shape = shape, Threads = threads };
            bench.Setup();
            float[] kept = new float[shape.Elements];
            run = opName switch
            {
                // References for the allocating overloads: fresh memory (uninitialized, as the library allocates) written once,
                // and the same writes into memory allocated once.
                "alloc-write" => () => GC.AllocateUninitializedArray<float>((int)shape.Elements).AsSpan().Fill(1),
                "write" => () => kept.AsSpan().Fill(1),
                "ns-train" => bench.NormSharpTrainForward, "ns-train-alloc" => () => bench.NormSharpTrainForwardAllocating(),
                "ns-eval" => bench.NormSharpEvalForward, "ns-fb" => bench.NormSharpForwardBackward, "lt-train" => bench.TorchTrainForward,
                "lt-eval" => bench.TorchEvalForward, "lt-fb" => bench.TorchForwardBackward, _ => throw new ArgumentException(opName),
            };
        }
        else
        {
            var bench = new InstanceNormBenchmarks { Shape = BenchmarkShape.InstanceNorm.First(s => s.ToString() == shapeName), Threads = threads };
            bench.Setup();
            run = opName switch
            {
                "in-train" => bench.NormSharpTrainForward, "in-fb" => bench.NormSharpForwardBackward, _ => throw new ArgumentException(opName),
            };
        }

        if (Environment.GetEnvironmentVariable("NORMSHARP_BENCH_OLD") == "1") UseOld(true);
        for (int i = 0; i < 50; i++) run();
        int[] collections = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        TimeSpan paused = GC.GetTotalPauseDuration();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        long calls = 0;
        while (watch.Elapsed.TotalSeconds < seconds) { run(); calls++; }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{shapeName} {opName} {threads}: {watch.Elapsed.TotalNanoseconds / calls:F0} ns per call; per 100 calls: gen0 {100.0 * (GC.CollectionCount(0) - collections[0]) / calls:F1}, " +
            $"gen1 {100.0 * (GC.CollectionCount(1) - collections[1]) / calls:F1}, gen2 {100.0 * (GC.CollectionCount(2) - collections[2]) / calls:F1} collections; " +
            $"GC pause {(GC.GetTotalPauseDuration() - paused).TotalNanoseconds / calls:F0} ns per call; {(GC.GetAllocatedBytesForCurrentThread() - allocated) / calls} bytes allocated per call"));
    }

    private static string R(Measured m, string torch, string ours)
    {
        (double median, double low, double high) = m.Ratio(torch, ours);
        return double.IsNaN(median) ? "-" : string.Create(CultureInfo.InvariantCulture, $"{median:F2}x [{low:F2}-{high:F2}]");
    }

    private static string P(Measured m, string reference, string ours)
    {
        (double median, _, _) = m.Ratio(reference, ours);
        return double.IsNaN(median) ? "-" : median.ToString("P0", CultureInfo.InvariantCulture);
    }

    private static Measured Measure(Op[] ops, int rounds, double sampleMs)
    {
        // Warm up (at least 100 ms each, so that the runtime has replaced the first, unoptimized code; first touch of the
        // buffers), then size each sample to about sampleMs.
        var reps = new int[ops.Length];
        for (int o = 0; o < ops.Length; o++)
        {
            var warm = Stopwatch.StartNew();
            while (warm.Elapsed.TotalMilliseconds < Math.Max(100, sampleMs)) ops[o].Run();
            var watch = Stopwatch.StartNew();
            int n = 0;
            while (watch.Elapsed.TotalMilliseconds < sampleMs / 2) { ops[o].Run(); n++; }
            reps[o] = Math.Max(1, (int)(n * sampleMs / Math.Max(1e-3, watch.Elapsed.TotalMilliseconds)));
        }

        var samples = ops.ToDictionary(o => o.Name, _ => new double[rounds]);
        using var process = Process.GetCurrentProcess();
        for (int r = 0; r < rounds; r++)
            for (int o = 0; o < ops.Length; o++)
            {
                if (CpuTime)
                {
                    // The process's processor time rather than the clock's (on a machine shared with other work, one thread).
                    process.Refresh();
                    TimeSpan before = process.TotalProcessorTime;
                    for (int i = 0; i < reps[o]; i++) ops[o].Run();
                    process.Refresh();
                    samples[ops[o].Name][r] = (process.TotalProcessorTime - before).TotalNanoseconds / reps[o];
                    continue;
                }

                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < reps[o]; i++) ops[o].Run();
                samples[ops[o].Name][r] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / reps[o];
            }

        return new Measured(samples);
    }

    private static double MedianOf(double[] values)
    {
        double[] sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static int IntOption(string[] args, string name, int fallback) =>
        Option(args, name) is string s ? int.Parse(s, CultureInfo.InvariantCulture) : fallback;

    /// <summary>The processor's model name (Linux: /proc/cpuinfo), else the architecture.</summary>
    public static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (string line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
