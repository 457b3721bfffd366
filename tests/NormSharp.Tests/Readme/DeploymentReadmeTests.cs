using NormSharp.Tests.Support;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Readme;

/// <summary>The README's Recalibration and Folding examples, compiled and run: if these break, the README is wrong.</summary>
public class DeploymentReadmeTests
{
    [Fact]
    public void RecalibrationExample_RunsAsPrinted()
    {
        var bn1 = new BatchNorm2d(3);
        var bn2 = new BatchNorm2d(3);
        Tensor<float>[] calibrationBatches = [Random<float>(1, 2, 3, [8, 3, 4, 4]), Random<float>(2, 2, 3, [5, 3, 4, 4])];
        Tensor<float> Network(Tensor<float> x) => bn2.Forward(bn1.Forward(x));
        var written = new StringWriter();
        TextWriter console = Console.Out;
        Console.SetOut(written);
        try
        {
            // --- README recalibration example ---
            var model = new NormModuleCollection("Net") { ["bn1"] = bn1, ["bn2"] = bn2 };   // the network's normalization layers
            using (RecalibrationSession session = Recalibration.Begin(model))              // PerSample (default) or RecalibrationWeighting.PerBatch
            {
                foreach (Tensor<float> batch in calibrationBatches) Network(batch);      // your forward: each layer records exact sums
                RecalibrationReport report = session.Complete();                         // writes the statistics; counter = batches seen
                Console.Write(report.ToTable(largest: 5));                               // per layer, then the channels that moved most
            }
            // --- end of README recalibration example ---
        }
        finally
        {
            Console.SetOut(console);
        }

        Assert.Equal(2L, bn1.NumBatchesTracked);
        Assert.Equal(2L, bn2.NumBatchesTracked);
        Assert.All(Values(bn1.RunningMean!), m => Assert.InRange(m, 1.0, 3.0));
        Assert.Contains("| bn1   | BatchNorm2d | 2       | 0 -> 2  | 208", written.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void FoldingExample_RunsAsPrinted()
    {
        var bn = new BatchNorm2d(6);
        var bn2 = new BatchNorm2d(6);
        bn.Forward(Random<float>(3, 1, 2, [4, 6, 3, 3]));
        bn2.Forward(Random<float>(4, 1, 2, [4, 6, 3, 3]));
        bn2.Eval();
        var convWeight = Random<float>(5, 0, 1, [6, 2, 3, 3]);
        var convBias = Random<float>(6, 0, 1, [6]);
        var deconvWeight = Random<float>(7, 0, 1, [4, 3, 3, 3]);

        // --- README folding example ---
        bn.Eval();
        FoldResult<float> folded = Folding.FoldInto(convWeight, convBias, bn, FoldTarget.Convolution(groups: 2));
        Console.WriteLine(folded.Check!.RelativeDifference);                        // the pair against the folded layer, on a probe
        FoldResult<float> up = Folding.FoldInto(deconvWeight, null, bn2, FoldTarget.TransposedConvolution(groups: 2));
        UnfoldResult<float> unfolded = Folding.Unfold(folded.Weight, folded.Bias);   // weight, no bias, an identity BatchNorm2d
        // --- end of README folding example ---

        Assert.InRange(folded.Check.RelativeDifference, 0, 1e-6);
        Assert.Equal([4, 3, 3, 3], up.Weight.Lengths.ToArray());
        Assert.Equal("BatchNorm2d", unfolded.Norm.ModuleName);
    }

    public static TheoryData<string, string> Examples() => new()
    {
        { "var model = new NormModuleCollection(\"Net\")", "// --- end of README recalibration example" },
        { "bn.Eval();\nFoldResult<float>", "// --- end of README folding example" },
    };

    [Theory]
    [MemberData(nameof(Examples))]
    public void Examples_InTheReadme_AreTheCodeTheseTestsRun(string start, string testEnd)
    {
        static string[] Lines(string text) =>
            text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("//", StringComparison.Ordinal) && !l.StartsWith("```", StringComparison.Ordinal)).ToArray();

        string readme = File.ReadAllText(RepositoryPaths.Of("README.md")).ReplaceLineEndings("\n");
        string test = File.ReadAllText(RepositoryPaths.Of("tests", "NormSharp.Tests", "Readme", "DeploymentReadmeTests.cs")).ReplaceLineEndings("\n");
        int from = readme.IndexOf(start, StringComparison.Ordinal);
        Assert.True(from >= 0, $"the README has no example starting with {start}");
        string printed = readme[from..readme.IndexOf("```", from, StringComparison.Ordinal)];
        int testFrom = test.LastIndexOf("// --- README", test.IndexOf(testEnd, StringComparison.Ordinal), StringComparison.Ordinal);
        testFrom = test.IndexOf('\n', testFrom) + 1;
        string tested = test[testFrom..test.IndexOf(testEnd, StringComparison.Ordinal)];
        Assert.Equal(Lines(printed), Lines(tested));
    }
}
