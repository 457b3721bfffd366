using System.Text.Json;
using NormSharp.Cli;

namespace NormSharp.Tests.Cli;

/// <summary><c>explain --steps</c> with the statistics policies: each setting shows its change, and forwards show what
/// the policy did (frozen statistics, a non-finite batch, virtual batches, a batch of one).</summary>
public class PolicyStepTests
{
    private static string Steps(string script, params string[] more)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliApp.Run(["explain", "--width", "200", "--features", "2", "--batch", "4", .. more, "--steps", script], output, error);
        Assert.Equal(0, code);
        Assert.Empty(error.ToString());
        return output.ToString();
    }

    private static string Block(string output, int step)
    {
        int start = output.IndexOf($"\n{step}. ", StringComparison.Ordinal);
        int end = output.IndexOf($"\n{step + 1}. ", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no step {step} in:\n{output}");
        return end < 0 ? output[start..] : output[start..end];
    }

    [Theory]
    [InlineData("set freeze-stats=true", "freeze-stats: false -> true")]
    [InlineData("set freeze-params=true", "freeze-params: false -> true")]
    [InlineData("set small-batch=use-running", "small-batch: error -> use-running")]
    [InlineData("set empty-batch=skip", "empty-batch: pytorch -> skip")]
    [InlineData("set nonfinite=throw", "nonfinite: propagate -> throw")]
    [InlineData("set virtual-batch=2", "virtual-batch: none -> 2")]
    public void SettingAPolicy_ShowsItsChange_NotNoChange(string step, string change)
    {
        string block = Block(Steps(step), 1);
        Assert.Contains(change, block, StringComparison.Ordinal);
        Assert.DoesNotContain("no change", block, StringComparison.Ordinal);
    }

    [Fact]
    public void FrozenStatistics_InTraining_NormalizeWithTheRunningStatistics_AndTheCounterStays()
    {
        string block = Block(Steps("forward, set freeze-stats=true, forward"), 3);
        Assert.Contains("freeze-stats=true", block, StringComparison.Ordinal);
        Assert.Contains("normalized with: running statistics", block, StringComparison.Ordinal);
        Assert.Contains("num_batches_tracked: 1 -> 1", block, StringComparison.Ordinal);
    }

    [Fact]
    public void ForwardNaN_UnderEachNonFinitePolicy_ShowsWhatHappensToTheRunningStatistics()
    {
        string output = Steps("forward nan, reset, set nonfinite=skip, forward nan, set nonfinite=throw, forward nan");
        Assert.Contains("running_mean: [0, 0] -> [NaN, ", Block(output, 1), StringComparison.Ordinal);
        string skipped = Block(output, 4);
        Assert.Contains("warning: BatchNorm1d: the batch statistics of channel 0 are not finite", skipped, StringComparison.Ordinal);
        Assert.Contains("running_mean: [0, 0] -> [0, 0]", skipped, StringComparison.Ordinal);
        Assert.Contains("num_batches_tracked: 0 -> 0", skipped, StringComparison.Ordinal);
        string thrown = Block(output, 6);
        Assert.Contains("error: BatchNorm1d: the batch statistics of channel 0 are not finite (NaN or infinite); NonFinitePolicy.Throw", thrown, StringComparison.Ordinal);
        Assert.Contains("(nothing changed)", thrown, StringComparison.Ordinal);
    }

    [Fact]
    public void VirtualBatches_ShowTheSplit_AndALastVirtualBatchOfOne_FollowsTheSmallBatchPolicy()
    {
        string output = Steps("set virtual-batch=3, forward batch=7, set small-batch=use-running, forward batch=7");
        string failed = Block(output, 2);
        Assert.Contains("error: Expected more than 1 value per channel when training, got input size [1, 2] (the last virtual batch", failed, StringComparison.Ordinal);
        string split = Block(output, 4);
        Assert.Contains("normalized as 3 virtual batches (2 of 3 and a last one of 1)", split, StringComparison.Ordinal);
        Assert.Contains("num_batches_tracked: 0 -> 2", split, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("forward nan nan")]
    [InlineData("forward batch=2 batch=3")]
    [InlineData("set virtual-batch=many")]
    public void MalformedPolicySteps_AreUsageErrors(string step)
    {
        var error = new StringWriter();
        int code = CliApp.Run(["explain", "--steps", step], new StringWriter(), error);
        Assert.Equal(2, code);
        Assert.Contains($"malformed step '{step}'", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void StepsJson_CarriesThePoliciesAndTheWarningsOfEachStep()
    {
        var output = new StringWriter();
        Assert.Equal(0, CliApp.Run(["explain", "--json", "--features", "2", "--steps", "set nonfinite=skip, forward nan"], output, new StringWriter()));
        using JsonDocument doc = JsonDocument.Parse(output.ToString());
        JsonElement forward = doc.RootElement[1];
        Assert.Equal("skip", forward.GetProperty("policies").GetProperty("nonFinite").GetString());
        Assert.Contains("not finite", forward.GetProperty("warnings")[0].GetString(), StringComparison.Ordinal);
    }
}
