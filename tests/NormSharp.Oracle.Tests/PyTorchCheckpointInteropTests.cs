using CsCheck;
using NormSharp.PyTorch;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// torch.save files written by TorchSharp.PyBridge's PyTorch-format writer (a zip of deflated entries and a Razorvine
/// pickle, another writer than PyTorch's own) read into NormSharp with the same names, dtypes, shapes and values: random
/// state dicts of every loaded dtype, and whole TorchSharp models loaded into NormSharp layers.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class PyTorchCheckpointInteropTests : IDisposable
{
    /// <summary>Random state dicts per CI run.</summary>
    public const int Cases = 60;

    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-pt-interop-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private static readonly (ScalarType Torch, StateDType Ours)[] DTypes =
    [
        (ScalarType.Float32, StateDType.Float32), (ScalarType.Float64, StateDType.Float64), (ScalarType.Float16, StateDType.Float16),
        (ScalarType.BFloat16, StateDType.BFloat16), (ScalarType.Int64, StateDType.Int64),
    ];

    public sealed record TensorCase(string Name, int DType, long[] Shape);

    public sealed record StateCase(TensorCase[] Tensors, int Seed)
    {
        public override string ToString() =>
            $"seed {Seed}: " + string.Join(", ", Tensors.Select(t => $"{t.Name} {DTypes[t.DType].Torch}[{string.Join(", ", t.Shape)}]"));
    }

    private static readonly string[] Layers = ["bn1", "layer1.0.bn2", "layer2.1.downsample.1", "head.norm", "x"];
    private static readonly string[] Keys = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];

    private static readonly Gen<StateCase> StateCases =
        from count in Gen.Int[1, 8]
        from tensors in (from layer in Gen.Int[0, Layers.Length - 1].Select(i => Layers[i])
                         from key in Gen.Int[0, Keys.Length - 1].Select(i => Keys[i])
                         from dtype in Gen.Int[0, DTypes.Length - 1]
                         from shape in Gen.Long[0, 5].Array[0, 4]
                         select new TensorCase($"{layer}.{key}", dtype, shape)).Array[count]
        from seed in Gen.Int
        select new StateCase(tensors.DistinctBy(t => t.Name).ToArray(), seed);

    [Fact]
    public void RandomStateDicts_WrittenByPyBridge_ReadWithTheSameDTypesShapesAndValues()
    {
        StateCases.Sample(c =>
        {
            using var scope = NewDisposeScope();
            var random = new Random(c.Seed);
            var state = new Dictionary<string, Tensor>();
            foreach (TensorCase tensor in c.Tensors)
            {
                double[] values = Enumerable.Range(0, (int)tensor.Shape.Aggregate(1L, (a, b) => a * b))
                                            .Select(_ => Math.Round((random.NextDouble() - 0.5) * 2000, 3)).ToArray();
                state[tensor.Name] = torch.tensor(values, tensor.Shape, ScalarType.Float64).to_type(DTypes[tensor.DType].Torch);
            }

            string path = Path.Combine(folder, $"pybridge-{c.Seed}.pt");
            using (FileStream file = File.Create(path)) PyTorchPickler.PickleStateDict(file, state);

            StateDict ours = PyTorchCheckpoint.ReadFile(path).Tensors;
            Assert.True(ours.Keys.ToHashSet().SetEquals(state.Keys), $"keys differ ({c})");
            foreach (TensorCase tensor in c.Tensors)
            {
                StateTensor read = ours[tensor.Name];
                Assert.True(DTypes[tensor.DType].Ours == read.DType, $"{tensor.Name}: {read.DType} ({c})");
                Assert.Equal(tensor.Shape, read.Shape);
                Assert.True(OracleRunner.Values(state[tensor.Name].to_type(ScalarType.Float64)).SequenceEqual(read.ToDoubles()), $"{tensor.Name}: values differ ({c})");
            }

            OracleReport.Shared.CountCase("torch.save (PyBridge) -> NormSharp");
        }, iter: Cases, threads: 1);
    }

    [Fact]
    public void TrainedTorchSharpModel_SavedForPython_LoadsIntoNormSharpLayers()
    {
        using var scope = NewDisposeScope();
        var torchModel = nn.Sequential(
            ("layer1", nn.Sequential(("0", nn.Sequential(("bn1", nn.BatchNorm2d(6)))))),
            ("head", nn.Sequential(("norm", nn.InstanceNorm1d(3, affine: true, track_running_stats: true)))));
        torchModel.train();
        var bn = (nn.Module<Tensor, Tensor>)torchModel.named_modules().First(m => m.name == "layer1.0.bn1").module;
        var norm = (nn.Module<Tensor, Tensor>)torchModel.named_modules().First(m => m.name == "head.norm").module;
        for (int step = 0; step < 3; step++)
        {
            bn.call(randn(4, 6, 3, 3) * (step + 1) + step);
            norm.call(randn(2, 3, 5) - step);
        }

        string path = Path.Combine(folder, "model.pt");
        torchModel.save_py(path);
        var ourBn = new BatchNorm2d(6);
        var ourNorm = new InstanceNorm1d(3, affine: true, trackRunningStats: true);
        new NormModuleCollection { ["layer1.0.bn1"] = ourBn, ["head.norm"] = ourNorm }.LoadPyTorchCheckpoint(path, strict: true);
        foreach (var (key, value) in torchModel.state_dict())
        {
            string layer = key[..key.LastIndexOf('.')], name = key[(key.LastIndexOf('.') + 1)..];
            StateTensor ours = (layer == "layer1.0.bn1" ? ourBn.StateDict() : ourNorm.StateDict())[name];
            Assert.Equal(OracleRunner.Values(value.to_type(ScalarType.Float64)), ours.ToDoubles());
        }

        Assert.Equal(3L, ourBn.NumBatchesTracked);
        OracleReport.Shared.CountCase("torch.save (PyBridge) -> NormSharp");
    }
}
