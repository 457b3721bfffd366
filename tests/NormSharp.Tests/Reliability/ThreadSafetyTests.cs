using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Reliability;

/// <summary>What may run concurrently on one layer, and what is refused instead of corrupting it.</summary>
public class ThreadSafetyTests
{
    [Fact]
    public void ConcurrentBackwards_OnOneLayer_NeverLoseAGradient_EachCompletesOrIsRefused()
    {
        Tensor<float> x = Random(1, 64, 32, 8, 8), dy = Random(2, 64, 32, 8, 8);
        var single = new BatchNorm2d(32);
        single.Forward(x);
        single.Backward(dy);
        double[] once = Values(single.Bias!.Grad!);

        var bn = new BatchNorm2d(32);
        bn.Forward(x);
        int completed = 0, refused = 0;
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
        {
            try
            {
                bn.Backward(dy);
                Interlocked.Increment(ref completed);
            }
            catch (InvalidOperationException e) when (e.Message.Contains("another call on this layer"))
            {
                Interlocked.Increment(ref refused);
            }
        });

        Assert.Equal(200, completed + refused);
        double[] accumulated = Values(bn.Bias!.Grad!);
        for (int c = 0; c < once.Length; c++)
            Assert.True(Math.Abs(accumulated[c] - completed * once[c]) <= 1e-3 * completed * (1 + Math.Abs(once[c])),
                        $"channel {c}: {accumulated[c]} after {completed} backwards of {once[c]}");
    }

    [Fact]
    public void ConcurrentEvaluationForwards_OnOneLayer_AllSucceed_WithTheSingleThreadedOutput()
    {
        var bn = new BatchNorm2d(8);
        bn.Forward(Random(1, 4, 8, 5, 5));
        bn.Eval();
        Tensor<float> x = Random(2, 4, 8, 5, 5);
        double[] expected = Values(bn.Forward(x));
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ => Assert.Equal(expected, Values(bn.Forward(x))));
        Assert.Equal(1L, bn.NumBatchesTracked);
    }

    [Fact]
    public void ConcurrentTrainingForwards_OnOneLayer_CountEveryCompletedForward()
    {
        var bn = new BatchNorm1d(4, momentum: null);
        Tensor<float> x = Random(3, 16, 4);
        int completed = 0;
        Parallel.For(0, 300, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
        {
            try
            {
                bn.Forward(x);
                Interlocked.Increment(ref completed);
            }
            catch (InvalidOperationException)
            {
            }
        });

        Assert.Equal(completed, bn.NumBatchesTracked);
    }
}
