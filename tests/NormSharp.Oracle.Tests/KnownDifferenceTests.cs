using System.Runtime.InteropServices;
using NormSharp.Oracle.Tests.Reference;
using TorchSharp;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// The known, deliberate differences from PyTorch and TorchSharp, each asserted as a difference, so that
/// a change on either side shows up here rather than as noise in the random suite.
/// </summary>
[Collection(OracleTestGroup.Name)]
public class KnownDifferenceTests
{
    [Fact]
    public void FailingForward_PyTorchIncrementsTheCounter_NormSharpChangesNothing()
    {
        PyTorchBatchNorm reference = OracleRunner.CreateReference(2, 3, 1e-5, 0.1, true, true, isDouble: false);
        var ours = new BatchNorm1d(3);
        double[] one = [1, 2, 3];

        var pythonError = Assert.Throws<PythonException>(() => reference.Forward(OracleRunner.TorchTensor(one, [1, 3], false)));
        var ourError = Assert.Throws<ArgumentException>(() => ours.Forward(OracleRunner.NormTensor<float>(one, [1, 3])));

        Assert.Equal(OracleRunner.NormalizeMessage(pythonError.Message), ourError.Message);
        Assert.Equal(1L, reference.NumBatchesTracked!.item<long>());   // PyTorch: bumped before the check
        Assert.Equal(0L, ours.NumBatchesTracked);                      // NormSharp: checked first, nothing changed
    }

    [Fact]
    public void ChannelMismatch_PyTorchIncrementsTheCounter_NormSharpChangesNothing()
    {
        PyTorchBatchNorm reference = OracleRunner.CreateReference(4, 3, 1e-5, 0.1, true, true, isDouble: false);
        var ours = new BatchNorm2d(3);
        double[] values = Enumerable.Range(0, 2 * 4 * 2 * 2).Select(i => (double)i).ToArray();

        var torchError = Assert.Throws<ExternalException>(() => reference.Forward(OracleRunner.TorchTensor(values, [2, 4, 2, 2], false)));
        var ourError = Assert.Throws<ArgumentException>(() => ours.Forward(OracleRunner.NormTensor<float>(values, [2, 4, 2, 2])));

        Assert.Equal(OracleRunner.NormalizeMessage(torchError.Message), ourError.Message);
        Assert.Equal(1L, reference.NumBatchesTracked!.item<long>());
        Assert.Equal(0L, ours.NumBatchesTracked);
    }

    [Fact]
    public void ResetParametersAfterAffineSetTrue_PyTorchResetsRunningStatsThenFails_NormSharpChangesNothing()
    {
        PyTorchBatchNorm reference = OracleRunner.CreateReference(2, 2, 1e-5, 0.1, false, true, isDouble: true);
        var ours = new BatchNorm1d<double>(2, affine: false);
        double[] values = [1, 2, 3, 5, 8, 13];
        reference.Forward(OracleRunner.TorchTensor(values, [3, 2], true));
        ours.Forward(OracleRunner.NormTensor<double>(values, [3, 2]));
        reference.Affine = true;
        ours.Affine = true;

        Assert.Throws<PythonException>(reference.ResetParameters);
        Assert.Throws<InvalidOperationException>(ours.ResetParameters);

        Assert.Equal(0L, reference.NumBatchesTracked!.item<long>());  // PyTorch: reset_running_stats ran before the failure
        Assert.Equal(1L, ours.NumBatchesTracked);
    }

    [Fact]
    public void OneValuePerChannel_TorchSharpModuleReturnsNaNRunningVar_NormSharpThrows()
    {
        using var torchLayer = torch.nn.BatchNorm1d(3);
        torchLayer.train();
        torchLayer.call(torch.tensor(new float[] { 1, 2, 3 }, [1, 3]));
        Assert.True(float.IsNaN(torchLayer.running_var!.data<float>()[0]));   // TorchSharp skips Python's check

        var ours = new BatchNorm1d(3);
        var e = Assert.Throws<ArgumentException>(() => ours.Forward(OracleRunner.NormTensor<float>([1, 2, 3], [1, 3])));
        Assert.Equal("Expected more than 1 value per channel when training, got input size [1, 3]", e.Message);
        Assert.Equal([1.0, 1, 1], OracleRunner.Values(ours.RunningVar!));
    }

    [Fact]
    public void EpsZeroInTraining_LibtorchAccepts_NormSharpRejectsAsPyTorch210Python()
    {
        // libtorch's kernel has no eps check (PyTorch 2.10+ checks in Python's F.batch_norm); NormSharp follows Python.
        double[] values = [1, 2, 3, 4];
        using torch.Tensor output = torch.nn.functional.batch_norm(OracleRunner.TorchTensor(values, [2, 2], true), null, null, training: true, eps: 0);
        Assert.Equal(4, output.numel());
        var e = Assert.Throws<ArgumentException>(() =>
            Functional.BatchNorm(OracleRunner.NormTensor<double>(values, [2, 2]), null, null, null, null, training: true, eps: 0));
        Assert.Equal("batch_norm eps must be positive during training, but got 0.0", e.Message);
    }
}
