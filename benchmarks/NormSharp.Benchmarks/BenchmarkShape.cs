namespace NormSharp.Benchmarks;

/// <summary>An input shape of the benchmark matrix, optionally stored channels-last.</summary>
public sealed record BenchmarkShape(long[] Lengths, bool ChannelsLast = false)
{
    public static IEnumerable<BenchmarkShape> All { get; } =
    [
        new([32, 64, 56, 56]),
        new([64, 256, 14, 14]),
        new([128, 512, 7, 7]),
        new([256, 1024]),
        new([16, 64]),
        new([2, 8, 4, 4]),
        new([4, 16, 16, 32, 32]),
        new([32, 64, 56, 56], ChannelsLast: true),
    ];

    /// <summary>InstanceNorm2d shapes: large planes (4096, 16384 values), planes at the kernels' threshold (256), small planes (64).</summary>
    public static IEnumerable<BenchmarkShape> InstanceNorm { get; } =
    [
        new([2, 32, 128, 128]),
        new([8, 64, 64, 64]),
        new([16, 128, 16, 16]),
        new([32, 256, 8, 8]),
    ];

    public long Elements => Lengths.Aggregate(1L, (a, b) => a * b);

    public override string ToString() => string.Join("x", Lengths) + (ChannelsLast ? " NHWC" : "");
}
