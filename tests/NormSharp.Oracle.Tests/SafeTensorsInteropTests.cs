using CsCheck;
using NormSharp.Serialization;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// Checkpoints cross between NormSharp and libtorch: files NormSharp writes load into TorchSharp modules (through
/// TorchSharp.PyBridge's safetensors support) with the same values and the same forward, and files written from
/// TorchSharp modules (F32, F64, F16, BF16) load into NormSharp layers under the same prefixed names.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class SafeTensorsInteropTests : IDisposable
{
    /// <summary>Random round trips per direction per CI run.</summary>
    public const int CasesPerDirection = 60;

    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-interop-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    public sealed record InteropCase(int Channels2d, int Channels1d, bool Affine, bool Track, int Batches, bool UseDouble, int Seed)
    {
        public override string ToString() =>
            $"BatchNorm2d({Channels2d}) at layer1.0.bn1, InstanceNorm1d({Channels1d}, affine={Affine}, track={Track}) at head.norm, " +
            $"{Batches} training batches, {(UseDouble ? "float64" : "float32")}, seed {Seed}";
    }

    private static readonly Gen<InteropCase> Cases =
        from c2 in Gen.Int[1, 24]
        from c1 in Gen.Int[1, 9]
        from affine in Gen.Bool
        from track in Gen.Bool
        from batches in Gen.Int[0, 4]
        from useDouble in Gen.Bool
        from seed in Gen.Int
        select new InteropCase(c2, c1, affine, track, batches, useDouble, seed);

    /// <summary>TorchSharp's twin of the NormSharp collection: the same names through nested Sequentials.</summary>
    private static nn.Module<Tensor, Tensor> TorchModel(InteropCase c) =>
        nn.Sequential(
            ("layer1", nn.Sequential(("0", nn.Sequential(("bn1", nn.BatchNorm2d(c.Channels2d)))))),
            ("head", nn.Sequential(("norm", nn.InstanceNorm1d(c.Channels1d, affine: c.Affine, track_running_stats: c.Track)))));

    private static (NormModuleCollection Model, NormBase<T> Bn, NormBase<T> Norm) NormModel<T>(InteropCase c)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var bn = new BatchNorm2d<T>(c.Channels2d);
        var norm = new InstanceNorm1d<T>(c.Channels1d, affine: c.Affine, trackRunningStats: c.Track);
        return (new NormModuleCollection { ["layer1.0.bn1"] = bn, ["head.norm"] = norm }, bn, norm);
    }

    private static Dictionary<string, double[]> TorchState(nn.Module module) =>
        module.state_dict().ToDictionary(p => p.Key, p => OracleRunner.Values(p.Value.to_type(ScalarType.Float64)));

    [Fact]
    public void NormSharpFiles_LoadIntoTorchSharpModules_WithTheSameValuesAndForward()
    {
        Cases.Sample(c =>
        {
            if (c.UseDouble) NormSharpToTorch<double>(c);
            else NormSharpToTorch<float>(c);
        }, iter: CasesPerDirection, threads: 1);
    }

    private void NormSharpToTorch<T>(InteropCase c) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var scope = NewDisposeScope();
        var random = new Random(c.Seed);
        var (model, bn, norm) = NormModel<T>(c);
        for (int b = 0; b < c.Batches; b++)
        {
            bn.Forward(OracleRunner.NormTensor<T>(OracleRunner.Normal(random, 3L * c.Channels2d * 4, b, 1 + b), [3, c.Channels2d, 2, 2]));
            norm.Forward(OracleRunner.NormTensor<T>(OracleRunner.Normal(random, 2L * c.Channels1d * 5, b, 2), [2, c.Channels1d, 5]));
        }

        if (bn.Weight is not null) for (int i = 0; i < c.Channels2d; i++) bn.Weight.Data[i] = T.CreateTruncating(0.5 + random.NextDouble());
        string path = Path.Combine(folder, $"normsharp-{c.Seed}.safetensors");
        model.SaveSafeTensors(path);

        var torchModel = TorchModel(c);
        if (c.UseDouble) torchModel.to(ScalarType.Float64);
        torchModel.load_safetensors(path, strict: true);
        Dictionary<string, double[]> torchState = TorchState(torchModel);
        StateDict ours = model.StateDict();
        Assert.True(ours.Keys.ToHashSet().SetEquals(torchState.Keys), $"keys: NormSharp [{string.Join(", ", ours.Keys)}], TorchSharp [{string.Join(", ", torchState.Keys)}] ({c})");
        foreach (var (key, value) in ours)
            Assert.True(value.ToDoubles().SequenceEqual(torchState[key]), $"{key}: values differ after the round trip ({c})");

        // The loaded modules compute what NormSharp computes in evaluation.
        torchModel.eval();
        bn.Eval();
        norm.Eval();
        double[] x = OracleRunner.Normal(random, 2L * c.Channels2d * 9, 0.5, 2);
        double[] expected = OracleRunner.Values(((nn.Module<Tensor, Tensor>)torchModel.named_modules().First(m => m.name == "layer1.0.bn1").module)
            .call(OracleRunner.TorchTensor(x, [2, c.Channels2d, 3, 3], c.UseDouble)));
        double[] actual = OracleRunner.Values(bn.Forward(OracleRunner.NormTensor<T>(x, [2, c.Channels2d, 3, 3])));
        double tolerance = c.UseDouble ? 1e-12 : 1e-5;
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"eval output [{i}]: {expected[i]} vs {actual[i]} ({c})");
        OracleReport.Shared.CountCase("safetensors NormSharp -> TorchSharp");
    }

    [Fact]
    public void TorchSharpFiles_LoadIntoNormSharp_WithTheSameValues()
    {
        Cases.Sample(c =>
        {
            if (c.UseDouble) TorchToNormSharp<double>(c);
            else TorchToNormSharp<float>(c);
        }, iter: CasesPerDirection, threads: 1);
    }

    private void TorchToNormSharp<T>(InteropCase c) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var scope = NewDisposeScope();
        var random = new Random(c.Seed);
        var torchModel = TorchModel(c);
        if (c.UseDouble) torchModel.to(ScalarType.Float64);
        torchModel.train();
        var bn = (nn.Module<Tensor, Tensor>)torchModel.named_modules().First(m => m.name == "layer1.0.bn1").module;
        var norm = (nn.Module<Tensor, Tensor>)torchModel.named_modules().First(m => m.name == "head.norm").module;
        for (int b = 0; b < c.Batches; b++)
        {
            bn.call(OracleRunner.TorchTensor(OracleRunner.Normal(random, 3L * c.Channels2d * 4, b, 1 + b), [3, c.Channels2d, 2, 2], c.UseDouble));
            norm.call(OracleRunner.TorchTensor(OracleRunner.Normal(random, 2L * c.Channels1d * 5, b, 2), [2, c.Channels1d, 5], c.UseDouble));
        }

        string path = Path.Combine(folder, $"torchsharp-{c.Seed}.safetensors");
        torchModel.save_safetensors(path);
        Dictionary<string, double[]> torchState = TorchState(torchModel);

        var (model, _, _) = NormModel<T>(c);
        model.LoadSafeTensors(path, strict: true);
        StateDict ours = model.StateDict();
        Assert.True(ours.Keys.ToHashSet().SetEquals(torchState.Keys), $"keys differ ({c})");
        foreach (var (key, value) in ours)
            Assert.True(value.ToDoubles().SequenceEqual(torchState[key]), $"{key}: NormSharp [{string.Join(", ", value.ToDoubles())}], TorchSharp [{string.Join(", ", torchState[key])}] ({c})");
        OracleReport.Shared.CountCase("safetensors TorchSharp -> NormSharp");
    }

    [Theory]
    [InlineData(ScalarType.Float16, "F16")]
    [InlineData(ScalarType.BFloat16, "BF16")]
    public void HalfPrecisionFilesFromTorchSharp_LoadConvertedToTheModulesType(ScalarType dtype, string fileDType)
    {
        using var scope = NewDisposeScope();
        var module = nn.BatchNorm1d(5);
        module.train();
        module.call(randn(8, 5) * 3 + 1);
        var state = module.state_dict().ToDictionary(p => p.Key, p => p.Value.is_floating_point() && p.Key != "num_batches_tracked" ? p.Value.to_type(dtype) : p.Value);
        string path = Path.Combine(folder, $"half-{fileDType}.safetensors");
        Safetensors.SaveStateDict(path, state);

        SafeTensorsFile file = SafeTensors.ReadFile(path);
        Assert.Equal(fileDType, file.Tensors["running_var"].DType == StateDType.Float16 ? "F16" : file.Tensors["running_var"].DType == StateDType.BFloat16 ? "BF16" : "other");
        foreach (BatchNorm1d<double> ours in new[] { new BatchNorm1d<double>(5) })
        {
            ours.LoadStateDict(file.Tensors);
            Assert.Equal(OracleRunner.Values(state["running_mean"].to_type(ScalarType.Float64)), OracleRunner.Values(ours.RunningMean!));
            Assert.Equal(OracleRunner.Values(state["running_var"].to_type(ScalarType.Float64)), OracleRunner.Values(ours.RunningVar!));
            Assert.Equal(1L, ours.NumBatchesTracked);
        }

        var single = new BatchNorm1d(5);
        single.LoadStateDict(file.Tensors);
        Assert.Equal(OracleRunner.Values(state["weight"].to_type(ScalarType.Float64)), OracleRunner.Values(single.Weight!.Data));
    }
}
