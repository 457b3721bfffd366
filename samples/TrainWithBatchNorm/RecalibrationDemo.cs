using System.Globalization;
using NormSharp;

namespace TrainWithBatchNorm;

/// <summary>
/// Recalibration on the trained spirals network: prune its hidden layer (the running statistics no longer describe what
/// comes out of them), measure, recalibrate the BatchNorm layers on the training points, measure again.
/// </summary>
public static class RecalibrationDemo
{
    public sealed record Result(double Trained, double Pruned, double Recalibrated, RecalibrationReport Report);

    public static Result Run(Network network, TextWriter log, double pruneFraction = 0.8, int seed = 7)
    {
        var (trainX, trainY) = Spirals.Generate(400, 0.15, seed);
        var (testX, testY) = Spirals.Generate(200, 0.15, seed + 1);
        int[] testOrder = Enumerable.Range(0, testY.Length).ToArray();
        network.Train(false);
        double trained = SpiralTraining.Accuracy(network, testX, testY, testY.Length, testOrder);

        network.Prune(pruneFraction);
        double pruned = SpiralTraining.Accuracy(network, testX, testY, testY.Length, testOrder);

        // The session puts the BatchNorm layers in training mode and records every forward's statistics; the network's own
        // forward runs over the training points in batches of 50 (the last one smaller), then Complete writes the population
        // statistics and puts the layers back in evaluation mode.
        RecalibrationReport report;
        var random = new Random(seed);
        int[] order = Enumerable.Range(0, trainY.Length).OrderBy(_ => random.Next()).ToArray();
        using (RecalibrationSession session = Recalibration.Begin(network.NormLayers))
        {
            for (int start = 0; start < order.Length; start += 50)
            {
                int batch = Math.Min(50, order.Length - start);
                var (x, _) = SpiralTraining.Gather(trainX, trainY, order, start, batch);
                network.Forward(x, batch);
            }

            report = session.Complete();
        }

        double recalibrated = SpiralTraining.Accuracy(network, testX, testY, testY.Length, testOrder);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Recalibration: test accuracy {trained:P1} trained, {pruned:P1} after pruning {pruneFraction:P0} of the hidden Linear(64, 64)'s weights, " +
            $"{recalibrated:P1} after recalibrating the BatchNorm statistics on the {trainY.Length} training points."));
        log.WriteLine();
        log.Write(report.ToTable(largest: 8));
        return new Result(trained, pruned, recalibrated, report);
    }
}
