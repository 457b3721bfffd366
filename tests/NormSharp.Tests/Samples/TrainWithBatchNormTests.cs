using TrainWithBatchNorm;

namespace NormSharp.Tests.Samples;

/// <summary>The training sample, run briefly: a network with NormSharp's BatchNorm learns the spirals.</summary>
public class TrainWithBatchNormTests
{
    [Fact]
    public void SpiralTraining_ShortRun_LearnsAndShowsTheSeedsPoint()
    {
        var log = new StringWriter();
        SpiralTraining.Report report = SpiralTraining.Run(new SpiralTraining.Options(Epochs: 12), log);

        Assert.True(report.Epochs[^1].EvalAccuracy >= 0.9, log.ToString());
        Assert.True(report.Epochs[^1].Loss < report.Epochs[0].Loss, log.ToString());
        foreach (SpiralTraining.ModeComparison row in report.Comparisons)
            Assert.Equal(row.RunningStatistics, row.RunningWithTrackingOff); // Eval + TrackRunningStats=false: still running stats
        SpiralTraining.ModeComparison single = report.Comparisons.Single(r => r.BatchSize == 1);
        Assert.Null(single.BatchStatistics);
        Assert.StartsWith("Expected more than 1 value per channel when training", single.BatchError, StringComparison.Ordinal);
    }
}
