using NormSharp.Serialization;

using NormSharp.Tests.Support;

namespace NormSharp.Tests.Readme;

/// <summary>The README's quick start, compiled and run: if this breaks, the README is wrong.</summary>
public class QuickStartTests
{
    [Fact]
    public void QuickStart_CompilesRunsAndDoesWhatTheReadmeSays()
    {
        // --- README quick start (keep in sync with README.md) ---
        var bn = new BatchNorm2d(3);                                   // float32, eps 1e-5, momentum 0.1, affine, tracking
        var x = Tensor.Create(new float[2 * 3 * 4 * 4], [2, 3, 4, 4]);
        for (int i = 0; i < 96; i++) x.GetSpan([0, 0, 0, 0], 96)[i] = i % 7;

        Tensor<float> y = bn.Forward(x);                               // training: batch statistics, running stats updated
        Console.WriteLine(bn.NumBatchesTracked);                       // 1

        bn.Eval();
        ForwardPlan plan = bn.Explain(x.Lengths);                      // what the next forward will do, and why
        Console.WriteLine(plan.NormalizeWith);                         // Running

        bn.TrackRunningStats = false;                                  // changes nothing in eval: the buffers still exist
        Tensor<float> y2 = bn.Forward(x);

        StateDict sd = bn.StateDict();                                 // weight, bias, running_mean, running_var, num_batches_tracked
        var copy = new BatchNorm2d(3);
        copy.LoadStateDict(sd);

        bn.Train();
        Tensor<float> y3 = bn.Forward(x);
        Tensor<float> dx = bn.Backward(y3);                            // dL/dx for dL/dy = y3; adds into Weight.Grad / Bias.Grad
        bn.ZeroGrad();
        // --- end of quick start ---

        Assert.Equal([2, 3, 4, 4], y.Lengths.ToArray());
        Assert.Equal(1L, bn.NumBatchesTracked);
        Assert.Equal(StatisticsSource.Running, plan.NormalizeWith);
        Assert.Equal(96, y2.FlattenedLength);
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], sd.Keys);
        Assert.Equal(1L, copy.NumBatchesTracked);
        Assert.Equal(96, dx.FlattenedLength);
        Assert.Null(bn.Weight!.Grad);
    }

    [Fact]
    public void HalfPrecisionExample_RunsAsPrinted()
    {
        // --- README half-precision example (keep in sync with README.md) ---
        var bn = new BatchNorm2d(64);                                         // float32 weight, bias, running statistics
        var values = new Half[8 * 64 * 14 * 14];
        for (int i = 0; i < values.Length; i++) values[i] = (Half)(i % 11 * 0.25f);
        Tensor<Half> x = Tensor.Create(values, [8, 64, 14, 14]);
        Tensor<Half> y = bn.Forward(x);                                       // float16 in, float16 out; running stats move as in float32
        Tensor<Half> dx = bn.Backward(y);                                     // bn.Weight.Grad and bn.Bias.Grad: float32
        Tensor<BFloat16> z = bn.Forward(Tensor.Create(values.Select(v => (BFloat16)(float)v).ToArray(), x.Lengths));
        Tensor<Half> f = Functional.BatchNorm(x, bn.RunningMean, bn.RunningVar, bn.Weight!.Data, bn.Bias!.Data, training: false);
        // --- end of half-precision example ---

        Assert.Equal(2L, bn.NumBatchesTracked);
        Assert.Equal(x.Lengths.ToArray(), y.Lengths.ToArray());
        Assert.All(new[] { dx.Lengths.ToArray(), z.Lengths.ToArray(), f.Lengths.ToArray() }, lengths => Assert.Equal(x.Lengths.ToArray(), lengths));
        Assert.IsType<Tensor<float>>(bn.Weight.Grad);
        string readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));
        foreach (string line in File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "tests", "NormSharp.Tests", "Readme", "QuickStartTests.cs"))
                                    .SkipWhile(l => !l.Contains("--- README half-precision example", StringComparison.Ordinal)).Skip(1)
                                    .TakeWhile(l => !l.Contains("--- end of half-precision example", StringComparison.Ordinal)))
            Assert.Contains(line.Trim(), readme, StringComparison.Ordinal);
    }

    private static readonly object CurrentDirectoryLock = new();

    [Fact]
    public void CheckpointExample_RunsAsPrinted()
    {
        string folder = Directory.CreateTempSubdirectory("normsharp-readme-").FullName;
        lock (CurrentDirectoryLock)
        {
            string previous = Directory.GetCurrentDirectory();
            Directory.SetCurrentDirectory(folder);
            try
            {
                // --- README checkpoints example ---
                var model = new NormModuleCollection("ResNet")
                {
                    ["bn1"] = new BatchNorm2d(64),
                    ["layer1.0.bn1"] = new BatchNorm2d(64),
                    ["head.norm"] = new InstanceNorm1d(8, affine: true),
                };
                model.SaveSafeTensors("norms.safetensors");                 // keys bn1.weight, ..., layer1.0.bn1.num_batches_tracked
                model.LoadSafeTensors("norms.safetensors", strict: true);   // all layers or none

                StateDict tensors = SafeTensors.ReadFile("norms.safetensors").Tensors;   // any safetensors file
                var bn1 = new BatchNorm2d<double>(64);                                     // F32/F64/F16/BF16 converted to the layer's type
                bn1.LoadStateDict(tensors.WithoutPrefix("bn1."));                          // one layer's entries, its prefix removed
                // --- end of README checkpoints example ---

                Assert.Equal(12, tensors.Count);
                Assert.Equal(0L, bn1.NumBatchesTracked);
            }
            finally
            {
                Directory.SetCurrentDirectory(previous);
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public void CheckpointExample_InTheReadme_IsTheCodeThisTestRuns()
    {
        static string[] Lines(string text, string start, string end)
        {
            int from = text.IndexOf(start, StringComparison.Ordinal), to = text.IndexOf(end, from + 1, StringComparison.Ordinal);
            return text[from..to].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("//", StringComparison.Ordinal)
                                                                                      && !l.StartsWith("using", StringComparison.Ordinal)
                                                                                      && !l.StartsWith("```", StringComparison.Ordinal)).ToArray();
        }

        string root = RepositoryPaths.Root;
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string test = File.ReadAllText(Path.Combine(root, "tests", "NormSharp.Tests", "Readme", "QuickStartTests.cs"));
        string[] printed = Lines(readme, "var model = new NormModuleCollection", "```\n\n- Files follow");
        string[] tested = Lines(test, "var model = new NormModuleCollection", "// --- end of README checkpoints example");
        Assert.Equal(printed, tested);
    }
}
