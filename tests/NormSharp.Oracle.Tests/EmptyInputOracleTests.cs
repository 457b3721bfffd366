using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using NormSharp.Oracle.Tests.Reference;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// <c>F.batch_norm</c> on empty inputs against libtorch, the 1-D shape (0,) of PyTorch's OpInfo samples included
/// (<c>sample_inputs_batch_norm</c>: input (0,), running statistics (0,), training True and False): the result's shape, the
/// running statistics (never touched, never even length-checked), and the error when ATen indexes a weight or bias of length 0.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class EmptyInputOracleTests
{
    public static TheoryData<long[], int?, int?, bool> Cases()
    {
        var cases = new TheoryData<long[], int?, int?, bool>();
        long[][] shapes = [[0], [0, 3], [0, 0], [2, 0, 4], [3, 2, 0], [0, 3, 2, 2]];
        // (running statistics length, weight and bias length): none, the OpInfo's (0,), mismatched, zero-length parameters.
        (int?, int?)[] arguments = [(null, null), (0, null), (3, 3), (5, 2), (null, 0), (0, 0)];
        foreach (long[] shape in shapes)
            foreach (var (statistics, parameters) in arguments)
                foreach (bool training in new[] { true, false })
                    cases.Add(shape, statistics, parameters, training);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EmptyInput_MatchesLibtorch(long[] shape, int? statisticsLength, int? parametersLength, bool training)
    {
        using var scope = torch.NewDisposeScope();
        double[] rmValues = statisticsLength is int s ? Enumerable.Range(1, s).Select(i => (double)i).ToArray() : [];
        double[] rvValues = rmValues.Select(v => v + 10).ToArray();
        double[] parameterValues = parametersLength is int p ? Enumerable.Range(1, p).Select(i => 0.5 * i).ToArray() : [];

        torch.Tensor? trm = statisticsLength is null ? null : OracleRunner.TorchTensor(rmValues, [rmValues.Length], false);
        torch.Tensor? trv = statisticsLength is null ? null : OracleRunner.TorchTensor(rvValues, [rvValues.Length], false);
        torch.Tensor? tw = parametersLength is null ? null : OracleRunner.TorchTensor(parameterValues, [parameterValues.Length], false);
        torch.Tensor? tb = parametersLength is null ? null : OracleRunner.TorchTensor(parameterValues, [parameterValues.Length], false);
        Exception? torchError = null;
        torch.Tensor? ty = null;
        try
        {
            ty = PyTorchBatchNorm.FunctionalBatchNorm(OracleRunner.TorchTensor([], shape, false), trm, trv, tw, tb, training, 0.5, 1e-5);
        }
        catch (Exception e) when (e is ExternalException or PythonException)
        {
            torchError = e;
        }

        Tensor<float>? rm = statisticsLength is null ? null : OracleRunner.NormTensor<float>(rmValues, [rmValues.Length]);
        Tensor<float>? rv = statisticsLength is null ? null : OracleRunner.NormTensor<float>(rvValues, [rvValues.Length]);
        Tensor<float>? w = parametersLength is null ? null : OracleRunner.NormTensor<float>(parameterValues, [parameterValues.Length]);
        Tensor<float>? b = parametersLength is null ? null : OracleRunner.NormTensor<float>(parameterValues, [parameterValues.Length]);
        Exception? ourError = null;
        Tensor<float>? y = null;
        try
        {
            y = Functional.BatchNorm(OracleRunner.NormTensor<float>([], shape), rm, rv, w, b, training, 0.5, 1e-5);
        }
        catch (ArgumentException e)
        {
            ourError = e;
        }

        Assert.True((torchError is null) == (ourError is null),
                    $"libtorch {(torchError is null ? "succeeded" : $"threw '{OracleRunner.NormalizeMessage(torchError.Message)}'")}, NormSharp " +
                    $"{(ourError is null ? "succeeded" : $"threw '{ourError.Message}'")}");
        if (torchError is not null)
        {
            Assert.Equal(OracleRunner.NormalizeMessage(torchError.Message), ourError!.Message);
            return;
        }

        Assert.Equal(ty!.shape, y!.Lengths.ToArray().Select(l => (long)l).ToArray());
        if (statisticsLength is null) return;
        Assert.Equal(OracleRunner.Values(trm!), OracleRunner.Values(rm!));
        Assert.Equal(OracleRunner.Values(trv!), OracleRunner.Values(rv!));
        Assert.Equal(rmValues, OracleRunner.Values(rm!));
    }
}
