using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.Synchronization;

/// <summary>What SyncBatchNorm decides, checks and refuses, with each rank a thread of this process.</summary>
public sealed class SyncBatchNormBehaviourTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static Tensor<double> Input(int seed, params nint[] shape)
    {
        var random = new Random(seed);
        long count = shape.Aggregate(1L, (a, b) => a * b);
        return Tensor.Create(Enumerable.Range(0, (int)count).Select(_ => random.NextDouble() * 4 - 2).ToArray(), shape);
    }

    private static T[] Each<T>((T? Result, Exception? Error)[] results)
    {
        foreach ((_, Exception? error) in results) if (error is not null) throw new Xunit.Sdk.XunitException(error.ToString());
        return [.. results.Select(r => r.Result!)];
    }

    private static double[] Values(Tensor<double>? tensor) => tensor is null ? [] : [.. tensor];

    [Fact]
    public void Evaluation_NeverCommunicates()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(3, processGroup: group);
            bn.Eval();
            bn.Forward(Input(group.Rank, 4, 3));
            bn.Backward(Input(10 + group.Rank, 4, 3));
            var noBuffers = new SyncBatchNorm<double>(3, trackRunningStats: false, processGroup: group);
            noBuffers.Eval();
            noBuffers.Forward(Input(group.Rank, 4, 3));   // batch statistics, but each process its own (PyTorch 2.x)
            noBuffers.Backward(Input(10 + group.Rank, 4, 3));
            return group.Collectives;
        });
        Assert.Equal([0, 0], Each(results));
    }

    [Fact]
    public void Training_ExchangesAHeaderAndTheStatistics_ForwardAndBackward()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(3, processGroup: group);
            bn.Forward(Input(group.Rank, 4, 3));
            int afterForward = group.Collectives;
            bn.Backward(Input(10 + group.Rank, 4, 3));
            return (afterForward, group.Collectives - afterForward);
        });
        Assert.All(Each(results), counts => Assert.Equal((2, 2), counts));
    }

    [Fact]
    public void OneProcess_IsBitIdenticalToBatchNorm_AndNeverCommunicates()
    {
        ThreadProcessGroup group = ThreadProcessGroup.Create(1, Timeout)[0];
        var sync = new SyncBatchNorm<double>(3, momentum: null, processGroup: group);
        var bn = new BatchNorm2d<double>(3, momentum: null);
        for (int step = 0; step < 3; step++)
        {
            Tensor<double> x = Input(step, 2, 3, 4, 5), dy = Input(100 + step, 2, 3, 4, 5);
            Assert.Equal(Values(bn.Forward(x)), Values(sync.Forward(x)));
            Assert.Equal(Values(bn.Backward(dy)), Values(sync.Backward(dy)));
        }

        Assert.Equal(Values(bn.RunningMean), Values(sync.RunningMean));
        Assert.Equal(Values(bn.RunningVar), Values(sync.RunningVar));
        Assert.Equal(Values(bn.Weight!.Grad), Values(sync.Weight!.Grad));
        Assert.Equal(3, sync.NumBatchesTracked);
        Assert.Equal(0, group.Collectives);
    }

    [Fact]
    public void InputOfRankOne_IsPyTorchsError()
    {
        var bn = new SyncBatchNorm<double>(3, processGroup: ThreadProcessGroup.Create(1, Timeout)[0]);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Create(new double[3], [3])));
        Assert.Equal("expected at least 2D input (got 1D input)", error.Message);
    }

    [Fact]
    public void InputWithoutChannels_IsPyTorchsError()
    {
        var bn = new SyncBatchNorm<double>(3, processGroup: ThreadProcessGroup.Create(1, Timeout)[0]);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.CreateFromShape<double>([4, 0])));
        Assert.Equal("SyncBatchNorm number of input channels should be non-zero", error.Message);
    }

    [Fact]
    public void InputsOfRankSixAndMore_AreAccepted()
    {
        var bn = new SyncBatchNorm<double>(2, processGroup: ThreadProcessGroup.Create(1, Timeout)[0]);
        Tensor<double> y = bn.Forward(Input(1, 2, 2, 2, 1, 2, 2));
        Assert.Equal([2, 2, 2, 1, 2, 2], y.Lengths.ToArray());
    }

    [Fact]
    public void OneValuePerChannel_OnEachProcess_IsAcceptedWhenTheWholeBatchHasMore()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group => new SyncBatchNorm<double>(3, processGroup: group).Forward(Input(group.Rank, 1, 3)));
        double[][] outputs = [.. Each(results).Select(Values)];
        // Two values per channel: the normalized pair is (-1, 1) up to eps.
        for (int c = 0; c < 3; c++) Assert.Equal(0, outputs[0][c] + outputs[1][c], 12);
    }

    [Fact]
    public void OneValuePerChannel_OverAllProcesses_ThrowsOnEveryProcess_AndChangesNothing()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var layers = new SyncBatchNorm<double>[2];
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = layers[group.Rank] = new SyncBatchNorm<double>(3, processGroup: group);
            return bn.Forward(Input(group.Rank, group.Rank == 0 ? 1 : 0, 3));
        });
        Assert.All(results, r => Assert.Equal(
            "Expected more than 1 value per channel when training, got input size 1 (the batches of all 2 processes together)",
            Assert.IsType<ArgumentException>(r.Error).Message));
        Assert.All(layers, bn =>
        {
            Assert.Equal(0, bn.NumBatchesTracked);
            Assert.Equal([0.0, 0, 0], Values(bn.RunningMean));
            Assert.Throws<InvalidOperationException>(() => bn.Backward(Tensor.CreateFromShape<double>([1, 3])));
        });
    }

    [Fact]
    public void EmptyShare_TakesPart_AndUpdatesItsRunningStatisticsLikeTheOthers()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(3, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(2, processGroup: group);
            bn.Forward(Input(group.Rank, group.Rank == 1 ? 0 : 3, 2));
            Tensor<double> dx = bn.Backward(Tensor.CreateFromShape<double>([group.Rank == 1 ? 0 : 3, 2]));
            return (Values(bn.RunningMean), Values(bn.RunningVar), bn.NumBatchesTracked, dx.FlattenedLength);
        });
        var each = Each(results);
        Assert.Equal(each[0].Item1, each[1].Item1);
        Assert.Equal(each[0].Item2, each[1].Item2);
        Assert.Equal(each[0].Item1, each[2].Item1);
        Assert.All(each, e => Assert.Equal(1, e.Item3));
        Assert.Equal(0, each[1].Item4);
    }

    [Fact]
    public void EmptyBatchOnEveryProcess_ChangesNoStatistic_ButMovesTheCounter()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(2, processGroup: group);
            bn.Forward(Tensor.CreateFromShape<double>([0, 2]));
            return (Values(bn.RunningMean), Values(bn.RunningVar), bn.NumBatchesTracked);
        });
        Assert.All(Each(results), e =>
        {
            Assert.Equal([0.0, 0], e.Item1);
            Assert.Equal([1.0, 1], e.Item2);
            Assert.Equal(1, e.Item3);
        });
    }

    [Fact]
    public void ProcessesWithDifferentChannelCounts_ThrowOnEveryProcess_AndChangeNothing()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var layers = new SyncBatchNorm<double>[2];
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            int channels = 3 + group.Rank;
            var bn = layers[group.Rank] = new SyncBatchNorm<double>(channels, processGroup: group);
            return bn.Forward(Input(group.Rank, 4, channels));
        });
        Assert.All(results, r => Assert.Equal(
            "SyncBatchNorm: the processes' layers disagree on the channel count (process 0: 3, process 1: 4). Nothing changed.",
            Assert.IsType<InvalidOperationException>(r.Error).Message));
        Assert.All(layers, bn => Assert.Equal(0, bn.NumBatchesTracked));
    }

    [Fact]
    public void ProcessesWithDifferentElementTypes_ThrowOnEveryProcess()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            if (group.Rank == 0) return new SyncBatchNorm<float>(2, processGroup: group).Forward(Tensor.Create(new float[8], [4, 2])).FlattenedLength;
            return new SyncBatchNorm<double>(2, processGroup: group).Forward(Tensor.Create(new double[8], [4, 2])).FlattenedLength;
        });
        Assert.All(results, r => Assert.Contains("disagree on the element type (process 0: float, process 1: double)",
                                                 Assert.IsType<InvalidOperationException>(r.Error).Message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("momentum", "(process 0: 0.1, process 1: null)")]
    [InlineData("eps", "(process 0: 1E-05, process 1: 0.001)")]
    [InlineData("Affine", "(process 0: true, process 1: false)")]
    public void ProcessesWithDifferentFlags_ThrowOnEveryProcess(string field, string values)
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(2, processGroup: group);
            if (group.Rank == 1)
            {
                if (field == "momentum") bn.Momentum = null;
                if (field == "eps") bn.Eps = 1e-3;
                if (field == "Affine") bn.Affine = false;
            }

            return bn.Forward(Input(group.Rank, 4, 2)).FlattenedLength;
        });
        Assert.All(results, r => Assert.Contains($"disagree on the {field} {values}", Assert.IsType<InvalidOperationException>(r.Error).Message,
                                                 StringComparison.Ordinal));
    }

    [Fact]
    public void AProcessWhoseForwardFailsItsChecks_MakesTheOthersFail_NamingIt()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(3, Timeout);
        var layers = new SyncBatchNorm<double>[3];
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = layers[group.Rank] = new SyncBatchNorm<double>(3, processGroup: group);
            return bn.Forward(Input(group.Rank, 4, group.Rank == 2 ? 5 : 3));   // rank 2: 5 channels for a 3-channel layer
        });
        Assert.Equal("running_mean should contain 5 elements not 3", Assert.IsType<ArgumentException>(results[2].Error).Message);
        for (int rank = 0; rank < 2; rank++)
            Assert.Equal("SyncBatchNorm: process 2 of 3 failed its forward before the exchange (its own exception says why); nothing changed on any process.",
                         Assert.IsType<InvalidOperationException>(results[rank].Error).Message);
        Assert.All(layers, bn => Assert.Equal(0, bn.NumBatchesTracked));
    }

    [Fact]
    public void AProcessWhoseBackwardFailsItsChecks_MakesTheOthersFail()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(3, processGroup: group);
            bn.Forward(Input(group.Rank, 4, 3));
            return bn.Backward(Input(7, group.Rank == 0 ? 5 : 4, 3));   // rank 0: dy of the wrong shape
        });
        Assert.IsType<ArgumentException>(results[0].Error);
        Assert.Contains("process 0 of 2 failed its backward", Assert.IsType<InvalidOperationException>(results[1].Error).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ProcessesRunningDifferentOperations_ThrowOnEveryProcess()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<double>(3, processGroup: group);
            bn.Forward(Input(group.Rank, 4, 3));
            // Rank 0 goes on to the backward, rank 1 skips it and runs the next forward.
            return group.Rank == 0 ? bn.Backward(Input(9, 4, 3)) : bn.Forward(Input(5, 4, 3));
        });
        Assert.All(results, r => Assert.Contains("not running the same operation (process 0: Backward, process 1: Forward)",
                                                 Assert.IsType<InvalidOperationException>(r.Error).Message, StringComparison.Ordinal));
    }

    [Fact]
    public void AProcessInEvaluationMode_WhileAnotherTrains_LeavesTheTrainerToItsGroupsTimeout()
    {
        // Evaluation never communicates (PyTorch 2.x): the training process waits for a partner that never comes; its
        // group's timeout turns the wait into an exception, and nothing changed on it.
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, TimeSpan.FromSeconds(1));
        var layers = new SyncBatchNorm<double>[2];
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = layers[group.Rank] = new SyncBatchNorm<double>(3, processGroup: group);
            if (group.Rank == 1) bn.Eval();
            return bn.Forward(Input(group.Rank, 4, 3));
        });
        Assert.IsType<TimeoutException>(results[0].Error);
        Assert.Null(results[1].Error);
        Assert.Equal(0, layers[0].NumBatchesTracked);
        Assert.Equal([0.0, 0, 0], Values(layers[0].RunningMean));
    }

    [Fact]
    public void Explain_SaysWhetherAndWhyAForwardSynchronizes()
    {
        ThreadProcessGroup[] two = ThreadProcessGroup.Create(2, Timeout);
        var bn = new SyncBatchNorm<double>(3, processGroup: two[0]);
        ForwardPlan training = bn.Explain([4, 3]);
        Assert.True(training.SynchronizesStatistics);
        Assert.Equal("SyncBatchNorm", training.Module);
        Assert.Contains(training.Reasons, r => r.StartsWith("training mode with 2 processes: the mean and variance are those of every process's batch together", StringComparison.Ordinal));
        Assert.Contains(training.Reasons, r => r.Contains("one value per channel over all processes together", StringComparison.Ordinal));
        Assert.Null(training.Error);   // one sample per process is fine: the whole batch decides

        bn.Eval();
        ForwardPlan evaluation = bn.Explain([4, 3]);
        Assert.False(evaluation.SynchronizesStatistics);
        Assert.Contains(evaluation.Reasons, r => r.StartsWith("evaluation mode: nothing is exchanged", StringComparison.Ordinal));

        var alone = new SyncBatchNorm<double>(3, processGroup: ThreadProcessGroup.Create(1, Timeout)[0]);
        ForwardPlan single = alone.Explain([1, 3]);
        Assert.False(single.SynchronizesStatistics);
        Assert.Contains(single.Reasons, r => r.StartsWith("the process group has one process", StringComparison.Ordinal));
        Assert.NotNull(single.Error);   // one value per channel, and this process is the whole batch
        Assert.Equal(0, two[0].Collectives);
    }

    [Fact]
    public void VirtualBatchSize_OnABatchSpreadOverSeveralProcesses_IsRefusedBeforeAnythingIsExchanged()
    {
        ThreadProcessGroup[] two = ThreadProcessGroup.Create(2, Timeout);
        var bn = new SyncBatchNorm<double>(3, processGroup: two[0]) { VirtualBatchSize = 2 };
        string expected = "VirtualBatchSize = 2 cannot split a batch spread over 2 processes (each process would split only its own share): " +
                          "set VirtualBatchSize = null on a synchronized layer.";
        Assert.Equal(expected, bn.Explain([4, 3]).Error);
        Assert.Equal(expected, bn.Explain([2, 3]).Error);
        var error = Assert.Throws<ArgumentException>(() => bn.Forward(Input(0, 4, 3)));
        Assert.Equal(expected, error.Message);
        Assert.Equal(0, bn.NumBatchesTracked);
        Assert.Equal(0, two[0].Collectives);
        bn.Eval();
        Assert.Null(bn.Explain([4, 3]).Error);   // evaluation exchanges nothing and splits nothing
    }

    [Fact]
    public void StateDict_HasBatchNormsKeys()
    {
        var sync = new SyncBatchNorm<float>(4, processGroup: ThreadProcessGroup.Create(1, Timeout)[0]);
        Assert.Equal(new BatchNorm2d<float>(4).StateDict().Keys, sync.StateDict().Keys);
    }

    [Fact]
    public void DestinationOverloads_AllocateNothingPerCall_InSteadyState()
    {
        ThreadProcessGroup[] groups = ThreadProcessGroup.Create(2, Timeout);
        var results = ThreadProcessGroup.Run(groups, group =>
        {
            var bn = new SyncBatchNorm<float>(64, processGroup: group);
            var x = Tensor.Create(Enumerable.Range(0, 8 * 64 * 16).Select(i => (float)Math.Sin(i + group.Rank)).ToArray(), [8, 64, 16]);
            var dy = Tensor.Create(Enumerable.Range(0, 8 * 64 * 16).Select(i => (float)Math.Cos(i)).ToArray(), [8, 64, 16]);
            var y = Tensor.CreateFromShape<float>([8, 64, 16]);
            var dx = Tensor.CreateFromShape<float>([8, 64, 16]);
            for (int i = 0; i < 5; i++)
            {
                bn.Forward(x, y);
                bn.Backward(dy, dx);
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++)
            {
                bn.Forward(x, y);
                bn.Backward(dy, dx);
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        });
        Assert.Equal([0L, 0L], Each(results));
    }
}
