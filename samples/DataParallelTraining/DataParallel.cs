using System.Numerics;
using NormSharp;
using NormSharp.Distributed;
using TrainWithBatchNorm;

namespace DataParallelTraining;

/// <summary>
/// Data-parallel training as PyTorch's DistributedDataParallel does it: every process holds the same network, takes its
/// share of every batch, computes its gradients, and the gradients are summed over the processes before each step, so
/// every process takes the same step. SyncBatchNorm makes the BatchNorm layers see the whole batch; everything else is
/// per row and needs no help. The result equals training one network on the whole batches.
/// </summary>
public static class DataParallel
{
    /// <summary>The training's settings; every process must use the same.</summary>
    public sealed record Options(int Epochs = 8, int BatchSize = 32, int Hidden = 32, double LearningRate = 0.05, double Momentum = 0.9, int Seed = 7);

    /// <summary>What a run produced: the mean loss of each epoch and every weight and running statistic at the end.</summary>
    public sealed record Result(double[] Losses, double[] Weights);

    /// <summary>
    /// Trains with <paramref name="group"/>: this process takes rows [start, end) of every batch (the batch split as evenly
    /// as possible, in rank order); the BatchNorm layers are SyncBatchNorm over the group; gradients and losses are summed
    /// over the group. With <paramref name="group"/> null, one process trains on the whole batches with BatchNorm1d.
    /// </summary>
    public static Result Train<T>(Options options, IProcessGroup? group) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (points, labels) = Spirals.Generate(100, 0.15, options.Seed);
        T[] x = [.. points.Select(v => T.CreateTruncating(v))];
        var network = new Network<T>(options.Hidden, options.Seed,
                                     features => group is null ? new BatchNorm1d<T>(features) : new SyncBatchNorm<T>(features, processGroup: group));
        var random = new Random(options.Seed);
        int count = labels.Length, batch = options.BatchSize;
        var losses = new double[options.Epochs];
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            int[] order = [.. Enumerable.Range(0, count).OrderBy(_ => random.Next())];
            double loss = 0;
            int batches = 0;
            network.Train(true);
            for (int start = 0; start + batch <= count; start += batch)
            {
                // This process's share of the batch: rows [first, last) of it.
                int rank = group?.Rank ?? 0, size = group?.Size ?? 1;
                int first = start + batch * rank / size, last = start + batch * (rank + 1) / size, rows = last - first;
                var xs = new T[rows * 2];
                var ys = new int[rows];
                for (int i = 0; i < rows; i++)
                {
                    int k = order[first + i];
                    (xs[2 * i], xs[2 * i + 1], ys[i]) = (x[2 * k], x[2 * k + 1], labels[k]);
                }

                T[] logits = network.Forward(xs, rows);
                (double batchLoss, T[] gradient) = CrossEntropy(logits, ys, Spirals.Classes, batch);
                network.Backward(gradient, rows);
                double[] gradients = network.Gradients();
                double[] lossSum = [batchLoss];
                if (group is not null)
                {
                    group.AllReduceSum(gradients);
                    group.AllReduceSum(lossSum);
                }

                network.Step(gradients, options.LearningRate, options.Momentum);
                loss += lossSum[0];
                batches++;
            }

            losses[epoch] = loss / batches;
        }

        return new Result(losses, network.Weights());
    }

    /// <summary>Softmax cross-entropy of these rows, as their share of a batch of <paramref name="batch"/>: the loss and
    /// its gradient are divided by the whole batch's size, so that the shares' sums are the whole batch's mean.</summary>
    private static (double Loss, T[] Gradient) CrossEntropy<T>(T[] logits, int[] labels, int classes, int batch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gradient = new T[logits.Length];
        double loss = 0;
        for (int n = 0; n < labels.Length; n++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int k = 0; k < classes; k++) max = Math.Max(max, double.CreateTruncating(logits[n * classes + k]));
            for (int k = 0; k < classes; k++) sum += Math.Exp(double.CreateTruncating(logits[n * classes + k]) - max);
            loss -= (double.CreateTruncating(logits[n * classes + labels[n]]) - max - Math.Log(sum)) / batch;
            for (int k = 0; k < classes; k++)
            {
                double p = Math.Exp(double.CreateTruncating(logits[n * classes + k]) - max) / sum;
                gradient[n * classes + k] = T.CreateTruncating((p - (k == labels[n] ? 1 : 0)) / batch);
            }
        }

        return (loss, gradient);
    }
}
