using BenchmarkDotNet.Attributes;
using NormSharp.PyTorch;
using NormSharp.PyTorch.Tests.Support;

namespace NormSharp.Benchmarks;

/// <summary>
/// Reading and converting a 100 MB torch.save checkpoint (100 float32 tensors of 1 MiB, a quarter of them transposed
/// views, laid out as PyTorch writes them): time, and the bytes allocated (about the tensors' own 100 MiB).
/// </summary>
/// <remarks>dotnet run -c Release --project benchmarks/NormSharp.Benchmarks -- --suite checkpoint</remarks>
[MemoryDiagnoser]
public class PyTorchCheckpointBenchmarks
{
    private string folder = "";
    private string source = "";

    [GlobalSetup]
    public void WriteCheckpoint()
    {
        folder = Directory.CreateTempSubdirectory("normsharp-bench-pt-").FullName;
        source = Path.Combine(folder, "large.pt");
        LargeCheckpoint.Write(source);
    }

    [GlobalCleanup]
    public void RemoveCheckpoint() => Directory.Delete(folder, recursive: true);

    [Benchmark]
    public StateDict Read100MB() => PyTorchCheckpoint.ReadFile(source).Tensors;

    [Benchmark]
    public PyTorchCheckpointFile Convert100MBToSafeTensors() => PyTorchCheckpoint.ConvertToSafeTensors(source, Path.Combine(folder, "large.safetensors"));
}
