using System.Diagnostics;
using NormSharp.PyTorch.Tests.Support;
using NormSharp.Serialization;

namespace NormSharp.PyTorch.Tests;

/// <summary>A 100 MB checkpoint reads and converts in seconds, and reading it allocates little beyond its tensors.</summary>
public class LargeCheckpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-pt-large-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void HundredMegabyteCheckpoint_ReadsAndConvertsInSeconds_AllocatingAboutItsTensorsSize()
    {
        string source = Path.Combine(folder, "large.pt"), target = Path.Combine(folder, "large.safetensors");
        LargeCheckpoint.Write(source);
        long fileLength = new FileInfo(source).Length;
        PyTorchCheckpoint.ReadFile(source); // warm up (JIT, the buffer pool)

        GC.Collect();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        StateDict state = PyTorchCheckpoint.ReadFile(source).Tensors;
        watch.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        TimeSpan read = watch.Elapsed;

        watch.Restart();
        PyTorchCheckpoint.ConvertToSafeTensors(source, target);
        TimeSpan convert = watch.Elapsed;

        output.WriteLine($"{fileLength:N0}-byte torch.save file, {state.Count} tensors ({LargeCheckpoint.TensorBytes:N0} bytes, a quarter transposed views): " +
                         $"read in {read.TotalMilliseconds:F0} ms allocating {allocated:N0} bytes ({(double)allocated / LargeCheckpoint.TensorBytes:F3} x the tensors); " +
                         $"converted to safetensors in {convert.TotalMilliseconds:F0} ms");
        Assert.Equal(2 * LargeCheckpoint.Layers, state.Count);
        Assert.True(allocated < LargeCheckpoint.TensorBytes * 1.05 + (8 << 20), $"{allocated:N0} bytes allocated for {LargeCheckpoint.TensorBytes:N0} bytes of tensors");
        Assert.True(read < TimeSpan.FromSeconds(20) && convert < TimeSpan.FromSeconds(30), $"read {read}, convert {convert}");

        StateDict converted = SafeTensors.ReadFile(target).Tensors;
        StateTensor transposed = state["layer0.3.bn.weight"];
        Assert.Equal(transposed.ToDoubles(), converted["layer0.3.bn.weight"].ToDoubles());
        var random = new Random(3);
        float[] storage = Enumerable.Range(0, LargeCheckpoint.Side * LargeCheckpoint.Side).Select(_ => (float)random.NextDouble()).ToArray();
        double[] values = transposed.ToDoubles();
        Assert.Equal(storage[1 * LargeCheckpoint.Side + 0], values[0 * LargeCheckpoint.Side + 1]);   // element [0, 1] is storage[1 * 512]
    }
}
