using TrainWithBatchNorm;

namespace NormSharp.Tests.Samples;

/// <summary>The sample's recalibration demo: pruning the trained network's hidden layer makes its running statistics stale
/// and costs accuracy; recalibrating them on the training points brings it back.</summary>
public class RecalibrationDemoTests
{
    [Fact]
    public void PrunedNetwork_RecalibratedOnTrainingPoints_GetsItsAccuracyBack()
    {
        SpiralTraining.Report trained = SpiralTraining.Run(new SpiralTraining.Options(Epochs: 30), TextWriter.Null);
        var log = new StringWriter();
        RecalibrationDemo.Result result = RecalibrationDemo.Run(trained.Network, log);

        Assert.True(result.Pruned < result.Trained - 0.05, log.ToString());
        Assert.True(result.Recalibrated > result.Pruned + 0.05, log.ToString());
        Assert.True(result.Recalibrated >= result.Trained - 0.02, log.ToString());
        Assert.Equal(["1", "4"], result.Report.Layers.Select(l => l.Name));
        Assert.All(result.Report.Layers, l => Assert.Equal(24L, l.CounterAfter));   // 1200 points in batches of 50
        Assert.All(result.Report.Channels, c => Assert.Equal(1200L, c.Count));
        Assert.All(trained.Network.Norms, n => Assert.False(n.Training));          // the session put evaluation mode back
        Assert.Contains("Largest mean shifts", log.ToString(), StringComparison.Ordinal);
    }
}
