using NormSharp.Serialization;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Spec;

/// <summary>The load-time check: <c>LoadStateDict(..., validate: true)</c> refuses negative or non-finite running
/// statistics, naming each bad channel, before anything changes; without it (PyTorch) any value loads.</summary>
public class LoadValidationTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-validate-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    private static StateDict State(float[] mean, float[] var, long counter = 5)
    {
        int c = mean.Length;
        return new StateDict(2)
        {
            { "weight", StateTensor.FromSingles(Enumerable.Repeat(2f, c).ToArray(), c) },
            { "bias", StateTensor.FromSingles(Enumerable.Repeat(1f, c).ToArray(), c) },
            { "running_mean", StateTensor.FromSingles(mean, c) },
            { "running_var", StateTensor.FromSingles(var, c) },
            { "num_batches_tracked", StateTensor.Scalar(counter) },
        };
    }

    private static string Snapshot(BatchNorm1d layer) =>
        string.Join(";", layer.StateDict().Select(e => e.Key + "=" + string.Join(",", e.Value.ToDoubles())));

    [Fact]
    public void Validate_NegativeVariance_IsRejectedNamingKeyChannelAndValue_NothingChanges()
    {
        var bn = new BatchNorm1d(3);
        bn.Forward(Random(1, 4, 3));
        string before = Snapshot(bn);
        var error = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(State([0f, 0f, 0f], [1f, -0.5f, 1f]), validate: true));
        Assert.Contains("running_var: channel 1 = -0.5 is negative", error.Message);
        Assert.DoesNotContain("channel 0", error.Message);
        Assert.Equal(before, Snapshot(bn));
    }

    [Fact]
    public void Validate_NonFiniteMeanAndVariance_ListsEveryBadChannel()
    {
        var bn = new BatchNorm1d(4);
        var error = Assert.Throws<ArgumentException>(() =>
            bn.LoadStateDict(State([float.NaN, 0f, float.PositiveInfinity, 0f], [1f, 1f, float.NegativeInfinity, float.NaN]), validate: true));
        Assert.Contains("running_mean: channel 0 = NaN is not finite", error.Message);
        Assert.Contains("running_mean: channel 2 = Infinity is not finite", error.Message);
        Assert.Contains("running_var: channel 2 = -", error.Message);
        Assert.Contains("running_var: channel 3 = NaN is not finite", error.Message);
        Assert.DoesNotContain("channel 1", error.Message);
        Assert.Equal(0, bn.NumBatchesTracked);
        Assert.Equal(1f, bn.RunningVar![3]);
    }

    [Fact]
    public void Validate_DoubleValueThatOverflowsFloat_IsNotFiniteAsSingle()
    {
        var bn = new BatchNorm1d(2);
        var state = State([0f, 0f], [1f, 1f]);
        state["running_var"] = StateTensor.FromDoubles([1.0, 1e300], 2);
        var error = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(state, validate: true));
        Assert.Contains("channel 1 = 1E+300 is not finite as Single", error.Message);
        new BatchNorm1d<double>(2).LoadStateDict(state, validate: true);
    }

    [Fact]
    public void Validate_ValidStatistics_LoadAsWithoutIt()
    {
        var a = new BatchNorm1d(3);
        var b = new BatchNorm1d(3);
        StateDict state = State([0.5f, -1f, 2f], [0f, 1f, 3f], counter: 7);
        a.LoadStateDict(state);
        b.LoadStateDict(state, validate: true);
        Assert.Equal(Snapshot(a), Snapshot(b));
    }

    [Fact]
    public void WithoutValidate_BadStatistics_LoadAsInPyTorch()
    {
        var bn = new BatchNorm1d(2);
        bn.LoadStateDict(State([float.NaN, 0f], [-1f, 1f]));
        Assert.True(float.IsNaN(bn.RunningMean![0]));
        Assert.Equal(-1f, bn.RunningVar![0]);
    }

    [Fact]
    public void Validate_KeyErrorsComeFirst_ThenBadChannels()
    {
        var bn = new BatchNorm1d(2);
        StateDict state = State([0f, 0f], [-2f, 1f]);
        state.Remove("bias");
        var error = Assert.Throws<ArgumentException>(() => bn.LoadStateDict(state, validate: true));
        Assert.True(error.Message.IndexOf("Missing key(s)", StringComparison.Ordinal) < error.Message.IndexOf("channel 0 = -2", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_InstanceNormWithRunningStatistics_IsChecked()
    {
        var norm = new InstanceNorm1d(2, affine: true, trackRunningStats: true);
        var error = Assert.Throws<ArgumentException>(() => norm.LoadStateDict(State([0f, 0f], [1f, -3f]), validate: true));
        Assert.Contains("channel 1 = -3", error.Message);
        Assert.Equal(1f, norm.RunningVar![1]);
    }

    [Fact]
    public void Collection_Validate_NamesFullKey_AndNoLayerChanges()
    {
        var first = new BatchNorm1d(2);
        var second = new BatchNorm1d(2);
        var model = new NormModuleCollection("Net") { ["a"] = first, ["b.bn"] = second };
        StateDict state = new(2);
        foreach (var (key, value) in State([1f, 1f], [2f, 2f], 3)) state["a." + key] = value;
        foreach (var (key, value) in State([1f, float.NaN], [2f, 2f], 3)) state["b.bn." + key] = value;
        string before = Snapshot(first) + Snapshot(second);
        var error = Assert.Throws<ArgumentException>(() => model.LoadStateDict(state, validate: true));
        Assert.Contains("b.bn.running_mean: channel 1 = NaN", error.Message);
        Assert.Equal(before, Snapshot(first) + Snapshot(second));

        string path = Path.Combine(folder, "bad.safetensors");
        SafeTensors.WriteFile(path, state);
        Assert.Throws<ArgumentException>(() => model.LoadSafeTensors(path, strict: true, validate: true));
        Assert.Equal(before, Snapshot(first) + Snapshot(second));
        model.LoadSafeTensors(path);
        Assert.True(float.IsNaN(second.RunningMean![1]));
    }
}
