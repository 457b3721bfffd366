namespace NormSharp.Distributed.Tests;

/// <summary>The README's SyncBatchNorm example, run as it is printed (one process: the MPI world without a launcher).</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void ReadmeExample_Runs()
    {
        // --- README SyncBatchNorm example (keep in sync with README.md) ---
        MpiProcessGroup world = MpiProcessGroup.World;                     // the processes of `mpirun -np K`; one without mpirun
        var bn = new SyncBatchNorm<float>(64);                               // BatchNorm's arguments; any input rank from 2
        var share = Tensor.Create(new float[8 * 64 * 100], [8, 64, 100]);   // this process's part of the batch
        Tensor<float> y = bn.Forward(share);                                 // normalized with the whole batch's statistics
        Tensor<float> dx = bn.Backward(y);                                   // Σdy and Σdy·(x - mean) summed over the processes
        double[] gradients = [.. bn.Weight!.Grad!.Select(g => (double)g), .. bn.Bias!.Grad!.Select(g => (double)g)];
        world.AllReduceSum(gradients);                                       // as DistributedDataParallel does for every parameter

        var model = new NormModuleCollection("net") { ["bn1"] = new BatchNorm2d(64), ["bn2"] = new BatchNorm1d(10) };
        NormModuleCollection synced = SyncBatchNorm.Convert(model);          // convert_sync_batchnorm
        // --- end ---

        Assert.Equal(1, world.Size);
        Assert.Equal(share.Lengths.ToArray(), dx.Lengths.ToArray());
        Assert.Equal(128, gradients.Length);
        Assert.IsType<SyncBatchNorm>(synced["bn1"]);
        Assert.Equal(1, bn.NumBatchesTracked);
    }

    [Fact]
    public void ReadmeExample_IsTheOnePrinted()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "NormSharp.slnx"))) root = Path.GetDirectoryName(root)!;
        static string[] Lines(string text, string start, string end)
        {
            int from = text.IndexOf(start, StringComparison.Ordinal), to = text.IndexOf(end, from, StringComparison.Ordinal);
            Assert.True(from >= 0 && to > from, $"'{start}' ... '{end}' not found");
            return [.. text[from..to].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("//", StringComparison.Ordinal))];
        }

        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        string test = File.ReadAllText(Path.Combine(root, "tests", "NormSharp.Distributed.Tests", "ReadmeExampleTests.cs")).ReplaceLineEndings("\n");
        Assert.Equal(Lines(test, "MpiProcessGroup world = MpiProcessGroup.World;", "// --- end ---"),
                     Lines(readme, "MpiProcessGroup world = MpiProcessGroup.World;", "```"));
    }
}
