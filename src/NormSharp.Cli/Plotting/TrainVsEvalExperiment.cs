using TrainWithBatchNorm;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// What <c>plot train-vs-eval</c> draws: the spirals sample's network (samples/TrainWithBatchNorm: Linear → BatchNorm1d →
/// ReLU, twice, → Linear; 400 points per arm, batches of 32, SGD with momentum) trained with the sample's seed and
/// schedule, so its losses and eval accuracies are the sample's; after each epoch its test accuracy in eval mode and in
/// train mode, and after training the sample's evaluation-batch-size table.
/// </summary>
public sealed class TrainVsEvalExperiment
{
    /// <summary>Training batch size (the sample's).</summary>
    public const int BatchSize = 32;

    /// <summary>The evaluation batch sizes of the table (the last is the whole test set).</summary>
    public static readonly IReadOnlyList<int> EvalBatchSizes = [1, 2, 8, 64, 600];

    private const int Hidden = 64;
    private const float LearningRate = 0.05f, Momentum = 0.9f;

    private TrainVsEvalExperiment(int seed, IReadOnlyList<TrainVsEvalEpoch> epochs, IReadOnlyList<EvalBatchSizeRow> table)
    {
        Seed = seed;
        Epochs = epochs;
        Table = table;
    }

    /// <summary>The seed of the data, the weights and the shuffles.</summary>
    public int Seed { get; }

    /// <summary>One record per epoch.</summary>
    public IReadOnlyList<TrainVsEvalEpoch> Epochs { get; }

    /// <summary>The evaluation-batch-size table, one row per <see cref="EvalBatchSizes"/>.</summary>
    public IReadOnlyList<EvalBatchSizeRow> Table { get; }

    /// <summary>Trains for <paramref name="epochs"/> epochs from <paramref name="seed"/>.</summary>
    public static TrainVsEvalExperiment Run(int epochs, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        var (trainX, trainY) = Spirals.Generate(400, 0.15, seed);
        var (testX, testY) = Spirals.Generate(200, 0.15, seed + 1);
        var network = new Network(Hidden, seed);
        var random = new Random(seed);
        int[] inOrder = Enumerable.Range(0, testY.Length).ToArray();
        // Train-mode batches must mix the classes (the test set is stored class by class); this shuffle has a generator of
        // its own, so that the training's shuffles stay the sample's.
        var testShuffle = new Random(seed + 2);
        int[] mixed = inOrder.OrderBy(_ => testShuffle.Next()).ToArray();
        int count = trainY.Length;
        var records = new List<TrainVsEvalEpoch>();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            int[] order = Enumerable.Range(0, count).OrderBy(_ => random.Next()).ToArray();
            double loss = 0;
            int correct = 0, batches = 0;
            network.Train();
            for (int start = 0; start + BatchSize <= count; start += BatchSize)
            {
                var (x, y) = Gather(trainX, trainY, order, start, BatchSize);
                float[] logits = network.Forward(x, BatchSize);
                var (batchLoss, gradient, batchCorrect) = SoftmaxCrossEntropy.Evaluate(logits, y, 0, BatchSize, Spirals.Classes);
                network.Backward(gradient, BatchSize);
                network.Step(LearningRate, Momentum);
                loss += batchLoss;
                correct += batchCorrect;
                batches++;
            }

            network.Train(false);
            double evalMode = Accuracy(network, testX, testY, testY.Length, inOrder);
            double trainMode = Evaluate(network, testX, testY, mixed, BatchSize, training: true, track: false, out _) ?? double.NaN;
            records.Add(new TrainVsEvalEpoch(epoch, loss / batches, (double)correct / (batches * BatchSize), evalMode, trainMode));
        }

        int[] shuffled = Enumerable.Range(0, testY.Length).OrderBy(_ => random.Next()).ToArray();
        var table = new List<EvalBatchSizeRow>();
        foreach (int batch in EvalBatchSizes)
        {
            double running = Evaluate(network, testX, testY, shuffled, batch, training: false, track: true, out _) ?? double.NaN;
            double trackingOff = Evaluate(network, testX, testY, shuffled, batch, training: false, track: false, out _) ?? double.NaN;
            double? batchStats = Evaluate(network, testX, testY, shuffled, batch, training: true, track: false, out string? error);
            table.Add(new EvalBatchSizeRow(batch, running, trackingOff, batchStats, error));
        }

        return new TrainVsEvalExperiment(seed, records, table);
    }

    /// <summary>The data as CSV: one row per epoch (<c>kind</c> = <c>epoch</c>: loss, training-batch accuracy, eval-mode
    /// and train-mode test accuracy, the gap), then one per evaluation batch size (<c>kind</c> = <c>eval_batch_size</c>:
    /// the three accuracies, the error of a batch of one). Accuracies are fractions.</summary>
    public CsvTable ToCsv()
    {
        var table = new CsvTable("kind", "epoch", "loss", "training_batch_accuracy", "eval_mode_accuracy", "train_mode_accuracy", "gap_train_minus_eval",
                                 "eval_batch_size", "eval_running_stats", "eval_tracking_off", "train_batch_stats", "batch_stats_error");
        foreach (TrainVsEvalEpoch e in Epochs)
            table.Add("epoch", e.Epoch, e.Loss, e.TrainingBatchAccuracy, e.EvalModeAccuracy, e.TrainModeAccuracy, e.Gap, null, null, null, null, null);
        foreach (EvalBatchSizeRow r in Table)
            table.Add("eval_batch_size", null, null, null, null, null, null, r.BatchSize, r.RunningStatistics, r.RunningWithTrackingOff, r.BatchStatistics, r.BatchError);
        return table;
    }

    private static double? Evaluate(Network network, float[] x, int[] y, int[] order, int batch, bool training, bool track, out string? error)
    {
        error = null;
        var saved = network.Norms.Select(n => (n.Training, n.TrackRunningStats)).ToArray();
        try
        {
            foreach (var norm in network.Norms) { norm.Train(training); norm.TrackRunningStats = track; }
            return Accuracy(network, x, y, batch, order);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return null;
        }
        finally
        {
            int i = 0;
            foreach (var norm in network.Norms) { norm.Train(saved[i].Training); norm.TrackRunningStats = saved[i++].TrackRunningStats; }
        }
    }

    private static double Accuracy(Network network, float[] x, int[] y, int batch, int[] order)
    {
        int correct = 0, seen = 0;
        for (int start = 0; start + batch <= y.Length; start += batch)
        {
            var (xs, ys) = Gather(x, y, order, start, batch);
            correct += SoftmaxCrossEntropy.Evaluate(network.Forward(xs, batch), ys, 0, batch, Spirals.Classes).Correct;
            seen += batch;
        }

        return (double)correct / seen;
    }

    private static (float[] X, int[] Y) Gather(float[] x, int[] y, int[] order, int start, int batch)
    {
        var xs = new float[batch * 2];
        var ys = new int[batch];
        for (int i = 0; i < batch; i++)
        {
            int k = order[start + i];
            xs[2 * i] = x[2 * k];
            xs[2 * i + 1] = x[2 * k + 1];
            ys[i] = y[k];
        }

        return (xs, ys);
    }
}
