using System.Text.Json;
using NormSharp.Cli;
using NormSharp.Cli.Observation;

namespace NormSharp.Tests.Cli;

/// <summary>The CLI's explain command: the live table, its JSON, step scripts and exit codes.</summary>
public class ExplainCommandTests
{
    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("batchnorm1d")]
    [InlineData("batchnorm2d")]
    [InlineData("batchnorm3d")]
    public void SummaryTable_ObservedLive_EqualsTheSpecTable(string module)
    {
        IReadOnlyList<SummaryRow> rows = new SummaryTable(ModuleKind.Named(module)).Rows();
        var cells = rows.Select(r => (r.Mode, r.TrackAtConstruction, r.TrackNow, r.NormalizedWith, r.RunningStatsUpdated, r.CounterIncremented, r.SingleValueError));
        (string, bool, bool, string, bool?, bool?, bool)[] spec =
        [
            ("train", true, true, "batch", true, true, true),
            ("train", true, false, "batch", false, false, true),
            ("train", false, false, "batch", null, null, true),
            ("train", false, true, "batch", null, null, true),
            ("eval", true, true, "running", false, false, false),
            ("eval", true, false, "running", false, false, false),
            ("eval", false, false, "batch", null, null, true),
            ("eval", false, true, "batch", null, null, true),
        ];
        Assert.Equal(spec, cells);
        Assert.Equal("var_u; EMA or CMA", rows[0].UpdateMatches);
    }

    [Theory]
    [InlineData("instancenorm1d")]
    [InlineData("instancenorm2d")]
    [InlineData("instancenorm3d")]
    public void InstanceNormSummaryTable_ObservedLive_EqualsTheSpecSection6Table(string module)
    {
        IReadOnlyList<SummaryRow> rows = SummaryTables.For(ModuleKind.Named(module)).Rows();
        var cells = rows.Select(r => (r.Mode, r.TrackAtConstruction, r.TrackNow, r.NormalizedWith, r.RunningStatsUpdated, r.CounterIncremented, r.SingleValueError));
        (string, bool, bool, string, bool?, bool?, bool)[] spec =
        [
            ("train", true, true, "instance", true, false, true),
            ("train", true, false, "instance", true, false, true),
            ("train", false, false, "instance", null, null, true),
            ("train", false, true, "instance", null, null, true),
            ("eval", true, true, "running", false, false, false),
            ("eval", true, false, "instance", true, false, true),
            ("eval", false, false, "instance", null, null, true),
            ("eval", false, true, "error", null, null, false),
        ];
        Assert.Equal(spec, cells);
        Assert.Equal("average of per-sample EMA; var_u", rows[0].UpdateMatches);
        Assert.Equal("Expected running_mean and running_var to be defined when use_input_stats is false", rows[7].Error);
    }

    [Fact]
    public void ExplainInstanceNorm2d_PrintsItsTableAttributeRowsAndTheErrorRow()
    {
        var (code, output, _) = Run("explain", "--module", "instancenorm2d", "--width", "200");
        Assert.Equal(0, code);
        Assert.StartsWith("InstanceNorm2d: what each combination does", output, StringComparison.Ordinal);
        Assert.Contains("| eval  | true                     | false        | instance (var_b)  | yes (average of per-sample EMA; var_u) | no         | yes                   |", output, StringComparison.Ordinal);
        Assert.Contains("error, eval with tracking false at construction and true now: Expected running_mean and running_var", output, StringComparison.Ordinal);
        Assert.Contains("a C + 1 channel input now warns, then fails (weight should contain 16 elements not 12)", output, StringComparison.Ordinal);
        Assert.Contains("factor 0: running statistics keep their values", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplainSteps_OnInstanceNorm_ShowsInstanceStatisticsAndUpdatesInEval()
    {
        var (code, output, _) = Run("explain", "--module", "instancenorm1d", "--track", "true", "--steps", "eval,set track=false,forward");
        Assert.Equal(0, code);
        Assert.Contains("normalized with: instance statistics", output, StringComparison.Ordinal);
        Assert.Contains("This happens in evaluation too", output.Replace("\n", " ", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void Explain_PrintsTheTableAndTheAffineAndMomentumRows()
    {
        var (code, output, _) = Run("explain", "--width", "200");
        Assert.Equal(0, code);
        Assert.Contains("| train | true                     | true         | batch (var_b)   | yes (var_u; EMA or CMA) | yes        | yes          |", output, StringComparison.Ordinal);
        Assert.Contains("| eval  | true                     | false        | running         | no                      | no         | no           |", output, StringComparison.Ordinal);
        Assert.Contains("no effect (output identical to the unchanged layer)", output, StringComparison.Ordinal);
        Assert.Contains("CMA: running_mean = plain average of the 3 batch means", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplainJson_IsAnArrayOfEightRowsWithTheContractFields()
    {
        var (code, output, _) = Run("explain", "--json");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement[] rows = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(8, rows.Length);
        Assert.Equal(["mode", "trackAtConstruction", "trackNow", "normalizedWith", "runningStatsUpdated", "counterIncremented", "singleValueError"],
                     rows[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal("train", rows[0].GetProperty("mode").GetString());
        Assert.Equal(JsonValueKind.Null, rows[2].GetProperty("runningStatsUpdated").ValueKind);
        Assert.Equal(JsonValueKind.Null, rows[2].GetProperty("counterIncremented").ValueKind);
        Assert.Equal("running", rows[5].GetProperty("normalizedWith").GetString());
        Assert.False(rows[5].GetProperty("singleValueError").GetBoolean());
    }

    [Fact]
    public void ExplainSteps_ShowsStatisticsBuffersAndCounterForEachForward()
    {
        var (code, output, _) = Run("explain", "--module", "batchnorm2d", "--affine", "false", "--track", "true", "--momentum", "none",
                                    "--steps", "train,forward,set track=false,forward,eval,forward");
        Assert.Equal(0, code);
        Assert.Contains("BatchNorm2d(3, eps=1e-05, momentum=None, affine=False, track_running_stats=True)", output, StringComparison.Ordinal);
        Assert.Contains("num_batches_tracked: 0 -> 1", output, StringComparison.Ordinal);
        Assert.Contains("TrackRunningStats is false now: the buffers are not handed on", output, StringComparison.Ordinal);
        Assert.Contains("normalized with: running statistics", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplainSteps_Header_ShowsTheConstructionArguments_NotWhatTheStepsSetLater()
    {
        var (code, output, _) = Run("explain", "--steps", "set eps=0.5", "--width", "200");
        Assert.Equal(0, code);
        string[] lines = output.Split('\n');
        Assert.Equal("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)", lines[0]);
        Assert.Contains("   eps: 1e-05 -> 0.5", lines);
    }

    [Fact]
    public void ExplainSteps_EachStep_ShowsItsEffect()
    {
        var (code, output, _) = Run("explain", "--width", "200", "--steps",
                                    "eval; eval; set affine=false; set momentum=None; set track=false; train; forward; reset");
        Assert.Equal(0, code);
        string[] blocks = output.Split("\n\n").Skip(1).Select(b => b.TrimEnd('\n')).ToArray();
        Assert.Equal(8, blocks.Length);
        Assert.Equal("1. eval\n   mode: train -> eval", blocks[0]);
        Assert.Equal("2. eval\n   no change", blocks[1]);
        Assert.Equal("3. set affine=false\n   affine: True -> False", blocks[2]);
        Assert.Equal("4. set momentum=None\n   momentum: 0.1 -> None", blocks[3]);
        Assert.Equal("5. set track=false\n   track_running_stats: True -> False", blocks[4]);
        Assert.Equal("6. train\n   mode: eval -> train", blocks[5]);
        Assert.Contains("   input: [4, 3], layer in train mode with track_running_stats=False, momentum=None, eps=1e-05", blocks[6], StringComparison.Ordinal);
        Assert.Contains("   num_batches_tracked: 0 -> 0", blocks[6], StringComparison.Ordinal);
        // PyTorch's reset_running_stats does nothing while track_running_stats is False.
        Assert.Equal("8. reset\n   no change", blocks[7]);
    }

    [Fact]
    public void ExplainSteps_Reset_ShowsTheBuffersItCleared()
    {
        var (code, output, _) = Run("explain", "--width", "200", "--steps", "forward, reset");
        Assert.Equal(0, code);
        string reset = output.Split("\n\n")[^1];
        Assert.StartsWith("2. reset\n   running_mean: [", reset, StringComparison.Ordinal);
        Assert.Contains("] -> [0, 0, 0]", reset, StringComparison.Ordinal);
        Assert.Contains("   num_batches_tracked: 1 -> 0", reset, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("BatchNorm2d", "batchnorm2d")]
    [InlineData("BATCHNORM3D", "batchnorm3d")]
    [InlineData("InstanceNorm1d", "instancenorm1d")]
    public void ExplainModule_IsCaseInsensitive(string given, string canonical)
    {
        var (code, output, error) = Run("explain", "--module", given, "--json");
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.Equal(Run("explain", "--module", canonical, "--json").Output, output);

        (code, output, _) = Run("explain", "--module", given, "--steps", "forward");
        Assert.Equal(0, code);
        Assert.StartsWith(ModuleKind.Named(canonical).Create(1, 1e-5, 0.1, false, false).ModuleName + "(3, ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplainModule_Unknown_IsAOneLineUsageErrorListingTheModules()
    {
        var (code, _, error) = Run("explain", "--module", "LayerNorm");
        Assert.Equal(2, code);
        Assert.StartsWith("error: unknown module 'LayerNorm' for --module; expected one of: batchnorm1d, batchnorm2d,",
                          CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("None")]
    [InlineData("none")]
    [InlineData("null")]
    [InlineData("NULL")]
    public void ExplainMomentum_None_IsPyTorchsCumulativeAverage(string none)
    {
        var (code, output, error) = Run("explain", "--momentum", none, "--steps", "forward,forward", "--width", "200");
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.StartsWith("BatchNorm1d(3, eps=1e-05, momentum=None, ", output, StringComparison.Ordinal);
        Assert.Contains("cumulative average (momentum is null): factor = 1/2", output, StringComparison.Ordinal);

        (code, output, _) = Run("explain", "--json", "--steps", $"set momentum={none}, forward");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(output);
        Assert.All(doc.RootElement.EnumerateArray(), step => Assert.Equal(JsonValueKind.Null, step.GetProperty("momentum").ValueKind));
    }

    [Fact]
    public void ExplainSteps_SemicolonsSeparateStepsLikeCommas_AndATrailingSeparatorIsHarmless()
    {
        string commas = Run("explain", "--json", "--steps", "train,forward,eval,forward").Output;
        Assert.Equal(commas, Run("explain", "--json", "--steps", "train; forward; eval; forward;").Output);
        Assert.Equal(commas, Run("explain", "--json", "--steps", "train, forward; eval,forward").Output);
    }

    [Fact]
    public void ExplainSteps_FailingForward_ReportsTheErrorAndThatNothingChanged()
    {
        var (code, output, _) = Run("explain", "--steps", "forward batch=1", "--width", "200");
        Assert.Equal(0, code);
        Assert.Contains("error: Expected more than 1 value per channel when training, got input size [1, 3]", output, StringComparison.Ordinal);
        Assert.Contains("num_batches_tracked: 0 -> 0", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplainStepsJson_RecordsEveryStep()
    {
        var (code, output, _) = Run("explain", "--json", "--steps", "forward,eval,forward");
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement[] steps = doc.RootElement.EnumerateArray().ToArray();
        Assert.Equal(3, steps.Length);
        Assert.Equal("batch", steps[0].GetProperty("normalizedWith").GetString());
        Assert.Equal("running", steps[2].GetProperty("normalizedWith").GetString());
        Assert.Equal(1, steps[2].GetProperty("counterAfter").GetInt64());
    }

    [Theory]
    [InlineData("explain", "--bogus")]
    [InlineData("explain", "--module", "layernorm")]
    [InlineData("explain", "--steps", "train,jump")]
    [InlineData("explain", "--steps", "set track=maybe")]
    [InlineData("explain", "--steps", "set colour=red")]
    [InlineData("explain", "--steps", "forward batch=-1")]
    [InlineData("explain", "--steps", "forward", "--momentum", "fast")]
    [InlineData("explain", "--affine", "false")]
    [InlineData("explain", "--module", "layernorm", "--also-bogus")]
    [InlineData("explain", "--steps", "forward", "--features", "many")]
    [InlineData("explain", "--steps", "forward", "--eps", "small")]
    [InlineData("explain", "--steps", "forward batch=99999999999")]
    [InlineData("frobnicate")]
    public void UsageErrors_ExitWithTwoAndOneLineNamingTheProblem(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(2, code);
        Assert.Empty(output);
        CliHarness.AssertOneLineError(error);
    }

    [Theory]
    [InlineData("NaN", "--steps", "forward", "--eps", "nan")]
    [InlineData("NaN", "--steps", "forward", "--momentum", "nan")]
    [InlineData("Infinity", "--steps", "forward,forward,forward", "--momentum", "1e308")]
    [InlineData("NaN", "--steps", "forward", "--module", "instancenorm1d", "--affine", "false", "--batch", "0")] // docs/decisions.md: empty batch
    [InlineData("NaN", "--steps", "set eps=nan,forward")]
    public void ExplainStepsJson_NonFiniteNumbers_AreWrittenAsTheDocumentedStrings(string expected, params string[] options)
    {
        var (code, output, error) = Run(["explain", "--json", .. options]);
        Assert.Equal(0, code);
        Assert.Empty(error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement last = doc.RootElement.EnumerateArray().Last();
        string[] strings = new[] { "eps", "momentum", "runningMeanAfter", "runningVarAfter" }
            .Select(last.GetProperty)
            .SelectMany(v => v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().ToArray() : [v])
            .Where(v => v.ValueKind == JsonValueKind.String)
            .Select(v => v.GetString()!)
            .ToArray();
        Assert.Contains(expected, strings);
        Assert.All(strings, s => Assert.Contains(s, new[] { "NaN", "Infinity", "-Infinity" }));
    }

    [Fact]
    public void ExplainSteps_NaNEpsAndMomentum_RunFaithfullyAsPyTorchAcceptsThem()
    {
        var (code, output, error) = Run("explain", "--steps", "forward", "--eps", "nan", "--momentum", "nan");
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.Contains("BatchNorm1d(3, eps=NaN, momentum=NaN,", output, StringComparison.Ordinal);

        (code, output, error) = Run("explain", "--steps", "forward", "--momentum", "nan");
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.Contains("running_mean: [0, 0, 0] -> [NaN, NaN, NaN]", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--batch 2000000000 with --features 3 makes a forward of 6000000000 values of batchnorm1d", "--steps", "forward", "--batch", "2000000000")]
    [InlineData("--features 2147483647 makes 2147483647 values per sample of batchnorm1d", "--steps", "train", "--features", "2147483647")]
    [InlineData("--features 2000000 makes 18000000 values per sample of instancenorm2d", "--steps", "eval", "--module", "instancenorm2d", "--features", "2000000")]
    [InlineData("step 'forward batch=99999' with --features 200 makes a forward of 159998400 values of batchnorm3d", "--steps", "forward,forward batch=99999", "--module", "batchnorm3d", "--features", "200")]
    [InlineData("--features must be at least 1, not 0.", "--steps", "forward", "--features", "0")]
    [InlineData("--batch must be at least 0, not -5.", "--steps", "forward", "--batch", "-5")]
    public void ExplainSteps_SizesOutOfRange_AreOneLineUsageErrors_BeforeAnythingIsAllocated(string expected, params string[] options)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var (code, output, error) = Run(["explain", .. options]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Contains(expected, CliHarness.AssertOneLineError(error), StringComparison.Ordinal);
        Assert.True(allocated < 16 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void ExplainSteps_ALargeButAllowedForward_Runs()
    {
        // 2^24 values exactly: the limit is inclusive.
        var (code, _, error) = Run("explain", "--json", "--steps", "forward", "--features", "16", "--batch", "1048576");
        Assert.Equal(0, code);
        Assert.Empty(error);
    }

    [Fact]
    public void UnexpectedFailure_IsOneLineWithExitCode1_NotAStackTrace()
    {
        var (code, _, error) = CliHarness.RunWith(new FailingWriter(), "explain");
        Assert.Equal(1, code);
        Assert.Equal("error: the disk is full (simulated)", CliHarness.AssertOneLineError(error));
    }

    /// <summary>An output that fails on the first write, as a full disk does.</summary>
    private sealed class FailingWriter : StringWriter
    {
        public override void Write(char value) => throw new IOException("the disk is full (simulated)");

        public override void Write(string? value) => throw new IOException("the disk is full (simulated)");

        public override void Write(char[] buffer, int index, int count) => throw new IOException("the disk is full (simulated)");

        public override void WriteLine(string? value) => throw new IOException("the disk is full (simulated)");
    }
}
