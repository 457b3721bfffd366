using System.Globalization;
using System.Text;
using BenchmarkDotNet.Reports;

namespace NormSharp.Benchmarks;

/// <summary>Turns one BenchmarkDotNet run into the README's table: libtorch time / NormSharp time, per shape and thread count.</summary>
public static class RatioTable
{
    public static string Markdown(Summary summary) => Markdown(summary, instanceNorm: false);

    /// <summary>The InstanceNorm table: training forward and forward + backward ratios, share of copy bandwidth.</summary>
    public static string InstanceNormMarkdown(Summary summary) => Markdown(summary, instanceNorm: true);

    private static string Markdown(Summary summary, bool instanceNorm)
    {
        var medians = new Dictionary<(string Shape, int Threads, string Method), (double Nanoseconds, long? Bytes)>();
        foreach (BenchmarkReport report in summary.Reports)
        {
            if (report.ResultStatistics is null) continue;
            var parameters = report.BenchmarkCase.Parameters;
            string shape = parameters["Shape"]!.ToString()!;
            int threads = (int)parameters["Threads"]!;
            string method = report.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            long? bytes = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
            medians[(shape, threads, method)] = (report.ResultStatistics.Median, bytes);
        }

        string Ratio(string shape, int threads, string torch, string ours) =>
            medians.TryGetValue((shape, threads, torch), out var t) && medians.TryGetValue((shape, threads, ours), out var o)
                ? (t.Nanoseconds / o.Nanoseconds).ToString("F2", CultureInfo.InvariantCulture) + "x" : "-";
        string Share(string shape, int threads, string method, double bytesFactor) =>
            medians.TryGetValue((shape, threads, "Copy"), out var c) && medians.TryGetValue((shape, threads, method), out var m)
                ? (bytesFactor * c.Nanoseconds / m.Nanoseconds).ToString("P0", CultureInfo.InvariantCulture) : "-";
        string Bytes(string shape, int threads, string method) =>
            medians.TryGetValue((shape, threads, method), out var m) && m.Bytes is long b ? b.ToString(CultureInfo.InvariantCulture) : "-";

        var text = new StringBuilder();
        if (instanceNorm)
        {
            text.AppendLine("| InstanceNorm2d shape | threads | fwd (buffer) | fwd+bwd | fwd: share of copy bandwidth | bytes allocated per call (fwd / fwd+bwd) |");
            text.AppendLine("|---|---|---|---|---|---|");
            foreach (BenchmarkShape shape in BenchmarkShape.InstanceNorm)
                foreach (int threads in new[] { 1, 2 })
                {
                    string s = shape.ToString();
                    text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {s} | {threads} | {Ratio(s, threads, "TorchTrainForward", "NormSharpTrainForward")} | " +
                        $"{Ratio(s, threads, "TorchForwardBackward", "NormSharpForwardBackward")} | " +
                        $"{Share(s, threads, "NormSharpTrainForward", 1.5)} | " +
                        $"{Bytes(s, threads, "NormSharpTrainForward")} / {Bytes(s, threads, "NormSharpForwardBackward")} |"));
                }

            return text.ToString();
        }

        text.AppendLine("| shape | threads | train fwd (buffer) | train fwd (allocating) | eval fwd | fwd+bwd | eval: share of copy bandwidth | train: share of copy bandwidth | bytes allocated per call (train / eval / fwd+bwd, buffer) |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (BenchmarkShape shape in BenchmarkShape.All)
            foreach (int threads in new[] { 1, 2 })
            {
                string s = shape.ToString();
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {s} | {threads} | {Ratio(s, threads, "TorchTrainForward", "NormSharpTrainForward")} | " +
                    $"{Ratio(s, threads, "TorchTrainForward", "NormSharpTrainForwardAllocating")} | " +
                    $"{Ratio(s, threads, "TorchEvalForward", "NormSharpEvalForward")} | " +
                    $"{Ratio(s, threads, "TorchForwardBackward", "NormSharpForwardBackward")} | " +
                    // eval moves the bytes of one copy (read x, write y); training reads x twice: 3/2 of a copy.
                    $"{Share(s, threads, "NormSharpEvalForward", 1.0)} | {Share(s, threads, "NormSharpTrainForward", 1.5)} | " +
                    $"{Bytes(s, threads, "NormSharpTrainForward")} / {Bytes(s, threads, "NormSharpEvalForward")} / {Bytes(s, threads, "NormSharpForwardBackward")} |"));
            }

        return text.ToString();
    }
}
