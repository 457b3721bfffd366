using CsCheck;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// NormSharp against TorchSharp's own BatchNorm modules where they implement the same thing: numeric
/// momentum, no attribute changes (TorchSharp's flags cannot be set), train/eval switches, inputs with
/// more than one value per channel.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class TorchSharpModuleTests
{
    private sealed record ModuleCase(int Rank, bool UseDouble, long[] Shape, double Momentum, bool Affine, bool Track, int Seed, bool[] TrainSteps)
    {
        public override string ToString() =>
            $"rank {Rank} {(UseDouble ? "float64" : "float32")} [{string.Join(", ", Shape)}] momentum {Momentum:R} affine {Affine} track {Track} seed {Seed} " +
            $"modes {string.Join(",", TrainSteps.Select(t => t ? "train" : "eval"))}";
    }

    private static readonly Gen<ModuleCase> Cases =
        from rank in Gen.Int[2, 5]
        from useDouble in Gen.Bool
        from n in Gen.Int[2, 6]
        from c in Gen.Int[1, 6]
        from spatial in Gen.Int[1, 5].Array[rank - 2]
        from momentum in Gen.Double[0, 1]
        from affine in Gen.Bool
        from track in Gen.Bool
        from seed in Gen.Int
        from steps in Gen.Bool.Array[1, 6]
        select new ModuleCase(rank, useDouble, new long[] { n, c }.Concat(spatial.Select(s => (long)s)).ToArray(), momentum, affine, track, seed, steps);

    [Fact]
    public void RandomTrainEvalSequences_MatchTorchSharpModules()
    {
        Cases.Sample(testCase =>
        {
            if (testCase.UseDouble) Check<double>(testCase);
            else Check<float>(testCase);
        }, iter: 300);
    }

    private static void Check<T>(ModuleCase c) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var scope = torch.NewDisposeScope();
        long channels = c.Shape[1];
        torch.ScalarType dtype = OracleRunner.Dtype(c.UseDouble);
        torch.nn.Module<torch.Tensor, torch.Tensor> torchLayer = c.Rank switch
        {
            2 or 3 => torch.nn.BatchNorm1d(channels, 1e-5, c.Momentum, c.Affine, c.Track, dtype: dtype),
            4 => torch.nn.BatchNorm2d(channels, 1e-5, c.Momentum, c.Affine, c.Track, dtype: dtype),
            _ => torch.nn.BatchNorm3d(channels, 1e-5, c.Momentum, c.Affine, c.Track, dtype: dtype),
        };
        BatchNorm<T> ours = OracleRunner.CreateLayer<T>(c.Rank, (int)channels, 1e-5, c.Momentum, c.Affine, c.Track);
        double u = OracleTolerance.UnitRoundoff(c.UseDouble);
        var random = new Random(c.Seed);
        long count = c.Shape.Aggregate(1L, (a, b) => a * b);
        long n = count / channels;
        for (int step = 0; step < c.TrainSteps.Length; step++)
        {
            torchLayer.train(c.TrainSteps[step]);
            ours.Train(c.TrainSteps[step]);
            double[] x = Enumerable.Range(0, (int)count).Select(_ => c.UseDouble ? random.NextDouble() * 4 - 1 : (float)(random.NextDouble() * 4 - 1)).ToArray();
            double[] expected = OracleRunner.Values(torchLayer.call(OracleRunner.TorchTensor(x, c.Shape, c.UseDouble)));
            double[] actual = OracleRunner.Values(ours.Forward(OracleRunner.NormTensor<T>(x, c.Shape)));
            // Inputs in [-1, 3): invStd is at most 1/sqrt(eps) only for nearly constant channels, which uniform data avoids.
            double tolerance = u * (8 + 2 * n) * 1e3;
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"output[{i}]: TorchSharp {expected[i]:R}, NormSharp {actual[i]:R} ({c}, step {step})");
            OracleReport.Shared.Observe("TorchSharp-module output", c.UseDouble, expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second)), tolerance, c.ToString());

            var buffers = torchLayer.named_buffers().ToDictionary(b => b.name, b => b.buffer);
            Assert.Equal(c.Track, buffers.ContainsKey("running_mean"));
            if (!c.Track) continue;
            double[] rm = OracleRunner.Values(buffers["running_mean"]), rv = OracleRunner.Values(buffers["running_var"]);
            double[] ourMean = OracleRunner.Values(ours.RunningMean!), ourVar = OracleRunner.Values(ours.RunningVar!);
            for (int ch = 0; ch < channels; ch++)
            {
                Assert.True(Math.Abs(rm[ch] - ourMean[ch]) <= u * (8 + 2 * n) * 4, $"running_mean[{ch}] ({c}, step {step})");
                Assert.True(Math.Abs(rv[ch] - ourVar[ch]) <= u * (8 + 4 * n) * 4, $"running_var[{ch}] ({c}, step {step})");
            }

            // TorchSharp stores the counter in the module's dtype, not int64.
            Assert.Equal(buffers["num_batches_tracked"].to_type(torch.ScalarType.Int64).item<long>(), ours.NumBatchesTracked);
        }
    }
}
