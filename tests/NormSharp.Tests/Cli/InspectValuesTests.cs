using NormSharp.Serialization;

using NormSharp.Tests.Support;

namespace NormSharp.Tests.Cli;

/// <summary><c>inspect FILE --values NAME...</c> prints tensors' values as PyTorch prints them.</summary>
public class InspectValuesTests
{
    private static string Fixture() => RepositoryPaths.Of("tests", "NormSharp.Tests", "Cli", "Golden", "checkpoint.safetensors");

    [Fact]
    public void InspectValues_PrintsEachTensorAsPyTorchPrintsIt()
    {
        StateDict tensors = SafeTensors.ReadFile(Fixture()).Tensors;
        var (code, output, error) = CliHarness.Run("inspect", Fixture(), "--values", "bn1.running_var", "bn1.num_batches_tracked");
        Assert.True(code == 0, error);
        Assert.Equal([$"bn1.running_var: {tensors["bn1.running_var"]}", "bn1.num_batches_tracked: tensor(1200)", ""], output.Split('\n'));
        Assert.StartsWith("bn1.running_var: tensor([", output, StringComparison.Ordinal);
    }

    [Fact]
    public void InspectValues_OfAnUnknownTensor_IsAOneLineError()
    {
        var (code, output, error) = CliHarness.Run("inspect", Fixture(), "--values", "nope.weight");
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Contains("no tensor named \"nope.weight\"", CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }
}
