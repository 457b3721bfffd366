using System.Globalization;

namespace NormSharp;

/// <summary>
/// Where the elementwise passes write: through the caches, or past them (non-temporal stores) when the input and the
/// output together exceed the last-level cache, so that nothing of the output would still be cached when the pass ends and
/// its lines would only evict the input's; the store then also skips reading each output line first. The values written
/// are the same either way.
/// </summary>
internal static class OutputStores
{
    /// <summary>The last-level cache's size in bytes (Linux: the largest level in sysfs; elsewhere 32 MiB).</summary>
    public static long LastLevelCacheBytes { get; } = Detect();

    /// <summary>Input plus output bytes above which the passes store past the caches (settable for the benchmarks'
    /// before/after runs).</summary>
    internal static long NonTemporalAboveBytes { get; set; } = LastLevelCacheBytes;

    /// <summary>Shortest contiguous run, in bytes, that a pass writes past the caches: each run's ends (before its first
    /// aligned register, after its last) are written through the cache, and a line that both kinds of store write is
    /// slow to complete. On 7x7 and 14x14 planes (196 and 784 bytes) non-temporal stores made a forward and backward
    /// 1.15-2.2x slower on the AMD EPYC (Zen 5) these were measured on; on 56x56 planes (12.5 KB) 1.1-1.2x faster.</summary>
    public const int NonTemporalRunBytes = 4096;

    /// <summary>Whether a pass that reads <paramref name="inputBytes"/> and writes <paramref name="outputBytes"/>, in
    /// contiguous runs of <paramref name="runBytes"/>, stores past the caches.</summary>
    public static bool NonTemporal(long inputBytes, long outputBytes, long runBytes) =>
        inputBytes + outputBytes > NonTemporalAboveBytes && runBytes >= NonTemporalRunBytes;

    /// <summary>Inputs from this many bytes on are read from memory rather than from L2: the rows kernels then ask for the
    /// rows ahead (settable for the benchmarks' before/after runs).</summary>
    internal static long PrefetchFromBytes { get; set; } = 2L << 20;

    /// <summary>Whether a rows pass over <paramref name="inputBytes"/> asks for the rows ahead.</summary>
    public static bool Prefetch(long inputBytes) => inputBytes >= PrefetchFromBytes;

    private static long Detect()
    {
        const long Fallback = 32L << 20;
        try
        {
            const string Root = "/sys/devices/system/cpu/cpu0/cache";
            if (!Directory.Exists(Root)) return Fallback;
            long largest = 0;
            foreach (string index in Directory.EnumerateDirectories(Root, "index*"))
            {
                string sizeFile = Path.Combine(index, "size");
                if (!File.Exists(sizeFile)) continue;
                string text = File.ReadAllText(sizeFile).Trim();
                long factor = text.EndsWith('K') ? 1L << 10 : text.EndsWith('M') ? 1L << 20 : 1;
                if (long.TryParse(text.TrimEnd('K', 'M'), NumberStyles.Integer, CultureInfo.InvariantCulture, out long size))
                    largest = Math.Max(largest, size * factor);
            }

            return largest > 0 ? largest : Fallback;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fallback;
        }
    }
}
