using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using NormSharp.Benchmarks;

// dotnet run -c Release --project benchmarks/NormSharp.Benchmarks -- --quick [QuickTable's options]: the stopwatch harness (QuickTable.cs)
// dotnet run -c Release --project benchmarks/NormSharp.Benchmarks -- [--full] [--suite batchnorm|instancenorm|all|checkpoint] [--out FILE] [BenchmarkDotNet options]
// (checkpoint: reading and converting a 100 MB torch.save file; BenchmarkDotNet's own table, no ratios)
// Default: a short in-process job (TorchSharp's native libraries load once, with the Debian fix); --full: BenchmarkDotNet's default job.
if (args.Contains("--profile"))
{
    QuickTable.Profile(args);
    return;
}

if (args.Contains("--quick"))
{
    string quickOut = Array.IndexOf(args, "--out") is int at && at >= 0 && at + 1 < args.Length ? args[at + 1] : "BenchmarkDotNet.Artifacts/quick.md";
    string quick = QuickTable.Run(args);
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(quickOut))!);
    File.WriteAllText(quickOut, quick);
    Console.WriteLine(quick);
    Console.WriteLine($"written to {quickOut}");
    return;
}

bool full = args.Contains("--full");
int outIndex = Array.IndexOf(args, "--out");
string output = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : "BenchmarkDotNet.Artifacts/ratios.md";
int suiteIndex = Array.IndexOf(args, "--suite");
string suite = suiteIndex >= 0 && suiteIndex + 1 < args.Length ? args[suiteIndex + 1] : "all";
string[] rest = args.Where((a, i) => a != "--full" && i != outIndex && i != outIndex + 1 && i != suiteIndex && i != suiteIndex + 1).ToArray();

// Short: one launch, 1 warmup, 5 measured iterations of at least 100 ms each (about 2 s a benchmark).
Job job = (full ? Job.Default : Job.Dry.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5)
                                   .WithMinIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(100))
                                   .WithStrategy(BenchmarkDotNet.Engines.RunStrategy.Throughput))
    .WithToolchain(InProcessEmitToolchain.Instance);
IConfig config = DefaultConfig.Instance.AddJob(job).WithOptions(ConfigOptions.DisableOptimizationsValidator);
if (suite == "checkpoint")
{
    BenchmarkRunner.Run<PyTorchCheckpointBenchmarks>(config, rest);
    return;
}

var tables = new List<string>();
if (suite is "all" or "batchnorm") tables.Add(RatioTable.Markdown(BenchmarkRunner.Run<BatchNormBenchmarks>(config, rest)));
if (suite is "all" or "instancenorm") tables.Add(RatioTable.InstanceNormMarkdown(BenchmarkRunner.Run<InstanceNormBenchmarks>(config, rest)));
string table = string.Join(Environment.NewLine, tables);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
File.WriteAllText(output, $"Ratios = libtorch time / NormSharp time (higher is better for NormSharp); medians of one run, float32.{Environment.NewLine}{Environment.NewLine}{table}");
Console.WriteLine(table);
Console.WriteLine($"written to {output}");
