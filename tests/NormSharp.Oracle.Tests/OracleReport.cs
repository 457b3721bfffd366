using System.Globalization;

namespace NormSharp.Oracle.Tests;

/// <summary>The worst errors seen in this run, per element type, printed when the suite ends.</summary>
public sealed class OracleReport
{
    private readonly object gate = new();
    private readonly Dictionary<string, (double Error, double Ratio, string Where)> worst = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (double Ratio, string Where)> tightest = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> casesByModule = new(StringComparer.Ordinal);
    private long cases, comparisons;

    public static OracleReport Shared { get; } = new();

    public long Cases => Interlocked.Read(ref cases);

    public void CountCase(string module)
    {
        Interlocked.Increment(ref cases);
        lock (gate) casesByModule[module] = casesByModule.GetValueOrDefault(module) + 1;
    }

    /// <summary>Records one comparison (already checked against <paramref name="tolerance"/>).</summary>
    public void Observe(string quantity, bool isDouble, double error, double tolerance, string where) =>
        Observe(quantity, isDouble ? "float64" : "float32", error, tolerance, where);

    /// <summary>Records one comparison of an input of element type <paramref name="dtype"/> (float16, bfloat16, ...).</summary>
    public void Observe(string quantity, string dtype, double error, double tolerance, string where)
    {
        Interlocked.Increment(ref comparisons);
        string key = $"{dtype} {quantity}";
        double ratio = tolerance > 0 ? error / tolerance : 0;
        lock (gate)
        {
            if (!worst.TryGetValue(key, out var current) || error > current.Error)
                worst[key] = (error, Math.Max(ratio, current.Ratio), where);
            else if (ratio > current.Ratio)
                worst[key] = (current.Error, ratio, current.Where);
            if (!tightest.TryGetValue(key, out var tight) || ratio > tight.Ratio)
                tightest[key] = (ratio, where);
        }
    }

    public string Summary()
    {
        lock (gate)
        {
            var lines = new List<string>
            {
                string.Create(CultureInfo.InvariantCulture, $"oracle: {Cases} random sequence cases, {Interlocked.Read(ref comparisons)} comparisons against libtorch 2.10 (TorchSharp 0.107)"),
                "oracle: sequence cases per module: " + string.Join(", ", casesByModule.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value}")),
            };
            foreach (var (key, value) in worst.OrderBy(p => p.Key, StringComparer.Ordinal))
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"oracle: worst {key} error {value.Error:E2} (worst share of tolerance used {value.Ratio:P1}) in {value.Where}"));
            foreach (var (key, value) in tightest.OrderBy(p => p.Key, StringComparer.Ordinal))
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"oracle: closest to its tolerance, {key}: {value.Ratio:P1} of it, in {value.Where}"));
            return string.Join(Environment.NewLine, lines);
        }
    }
}
