using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Reliability;

/// <summary>Steady-state calls allocate nothing, whatever sequence of batch sizes they see.</summary>
public class AllocationTests
{
    [Fact]
    public void AlternatingBatchSizes_ForwardAndBackwardIntoDestinations_AllocateNothing()
    {
        int original = NormSharpOptions.MaxDegreeOfParallelism;
        try
        {
            NormSharpOptions.MaxDegreeOfParallelism = 1;
            foreach (NormBase<float> layer in new NormBase<float>[] { new InstanceNorm2d(16, affine: true, trackRunningStats: true), new BatchNorm2d(16) })
            {
                var batches = new[] { 8, 6, 8, 5, 8, 6 }.Select(n => (X: Random(n, n, 16, 6, 6), Dy: Random(n + 1, n, 16, 6, 6),
                                                                   Y: Tensor.CreateFromShape<float>([n, 16, 6, 6]),
                                                                   Dx: Tensor.CreateFromShape<float>([n, 16, 6, 6]))).ToArray();
                for (int warm = 0; warm < 2; warm++)
                    foreach (var (x, dy, y, dx) in batches) { layer.Forward(x, y); layer.Backward(dy, dx); }

                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int round = 0; round < 3; round++)
                    foreach (var (x, dy, y, dx) in batches) { layer.Forward(x, y); layer.Backward(dy, dx); }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated == 0, $"{layer.ModuleName}: {allocated} bytes over {3 * batches.Length} forward+backward pairs");
            }
        }
        finally
        {
            NormSharpOptions.MaxDegreeOfParallelism = original;
        }
    }
}
