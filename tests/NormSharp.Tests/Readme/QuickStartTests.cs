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
    public void CheckpointExample_CompilesRunsAndRoundTrips()
    {
        string folder = Directory.CreateTempSubdirectory("normsharp-readme-").FullName;
        try
        {
            string norms = Path.Combine(folder, "norms.safetensors");

            // --- README checkpoints example (keep in sync with README.md) ---
            var model = new NormModuleCollection("ResNet")
            {
                ["bn1"] = new BatchNorm2d(64),
                ["layer1.0.bn1"] = new BatchNorm2d(64),
                ["head.norm"] = new InstanceNorm1d(8, affine: true),
            };
            model.SaveSafeTensors(norms);                               // keys bn1.weight, ..., layer1.0.bn1.num_batches_tracked
            model.LoadSafeTensors(norms, strict: true);                 // all layers or none

            StateDict tensors = NormSharp.Serialization.SafeTensors.ReadFile(norms).Tensors;   // any safetensors file
            // --- end of checkpoints example ---

            var single = new BatchNorm2d<double>(64);
            var sub = new StateDict();
            foreach (var (key, value) in tensors)
                if (key.StartsWith("bn1.", StringComparison.Ordinal)) sub[key[4..]] = value;
            single.LoadStateDict(sub);
            Assert.Equal(12, tensors.Count);
            Assert.Equal(0L, single.NumBatchesTracked);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
