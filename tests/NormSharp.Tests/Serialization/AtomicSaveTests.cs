using NormSharp.Serialization;

namespace NormSharp.Tests.Serialization;

/// <summary>A save never leaves a broken checkpoint: a failure injected at every step leaves the old file or the new one.</summary>
public class AtomicSaveTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-atomic-").FullName;

    public void Dispose()
    {
        AtomicFile.FaultInjection = null;
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private sealed class InjectedFailure(AtomicSaveStep step) : Exception($"injected at {step}");

    private static StateDict State(float value) => new() { ["bn.weight"] = StateTensor.FromSingles(Enumerable.Repeat(value, 1000).ToArray(), 1000) };

    [Theory]
    [InlineData("TemporaryCreated", false)]
    [InlineData("PartlyWritten", false)]
    [InlineData("Written", false)]
    [InlineData("Flushed", false)]
    [InlineData("Closed", false)]
    [InlineData("Renamed", true)]
    public void FailureAtAnyStep_LeavesTheOldFileOrTheNewOne_NeverABrokenOne(string step, bool newFileExpected)
    {
        var failAt = Enum.Parse<AtomicSaveStep>(step);
        string path = Path.Combine(folder, "model.safetensors");
        SafeTensors.WriteFile(path, State(1f));
        byte[] old = File.ReadAllBytes(path);

        AtomicFile.FaultInjection = at => { if (at == failAt) throw new InjectedFailure(at); };
        Assert.Throws<InjectedFailure>(() => SafeTensors.WriteFile(path, State(2f)));
        AtomicFile.FaultInjection = null;

        byte[] now = File.ReadAllBytes(path);
        if (newFileExpected) Assert.Equal(SafeTensors.Serialize(State(2f)), now);
        else Assert.Equal(old, now);
        Assert.Equal(newFileExpected ? 2.0 : 1.0, SafeTensors.Read(now).Tensors["bn.weight"].ToDoubles()[0]);
        Assert.Equal(["model.safetensors"], Directory.GetFiles(folder).Select(Path.GetFileName));
    }

    [Fact]
    public void FailureOnTheFirstSave_LeavesNoFileAtAll()
    {
        string path = Path.Combine(folder, "first.safetensors");
        AtomicFile.FaultInjection = step => { if (step == AtomicSaveStep.PartlyWritten) throw new InjectedFailure(step); };
        Assert.Throws<InjectedFailure>(() => SafeTensors.WriteFile(path, State(1f)));
        AtomicFile.FaultInjection = null;
        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public void SavingIntoAMissingFolder_IsAnIOError_AndCreatesNothing()
    {
        string path = Path.Combine(folder, "no-such-folder", "model.safetensors");
        Assert.ThrowsAny<IOException>(() => SafeTensors.WriteFile(path, State(1f)));
        Assert.False(Directory.Exists(Path.Combine(folder, "no-such-folder")));
    }

    [Fact]
    public void SuccessfulSave_LeavesOnlyTheTarget()
    {
        string path = Path.Combine(folder, "model.safetensors");
        for (int i = 0; i < 3; i++) SafeTensors.WriteFile(path, State(i));
        Assert.Equal(["model.safetensors"], Directory.GetFiles(folder).Select(Path.GetFileName));
        Assert.Equal(2.0, SafeTensors.ReadFile(path).Tensors["bn.weight"].ToDoubles()[0]);
    }
}
