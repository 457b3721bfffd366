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

    [Fact]
    public void MixedPrecision_ForwardAndBackwardIntoDestinations_AllocateNothing()
    {
        int original = NormSharpOptions.MaxDegreeOfParallelism;
        try
        {
            NormSharpOptions.MaxDegreeOfParallelism = 1;
            foreach (NormBase<float> layer in new NormBase<float>[] { new InstanceNorm2d(16, affine: true, trackRunningStats: true), new BatchNorm2d(16), new BatchNorm1d(16) })
            {
                nint[][] shapes = layer is BatchNorm1d ? [[64, 16], [40, 16]] : [[8, 16, 6, 6], [5, 16, 50, 50]];
                var halves = shapes.Select(s => (X: Half(s, 1), Dy: Half(s, 2), Y: Tensor.CreateFromShape<Half>(s), Dx: Tensor.CreateFromShape<Half>(s))).ToArray();
                var bfloats = shapes.Select(s => (X: BFloat(s, 3), Dy: BFloat(s, 4), Y: Tensor.CreateFromShape<BFloat16>(s), Dx: Tensor.CreateFromShape<BFloat16>(s))).ToArray();
                Tensor<float> rm = Tensor.Create(new float[16], [16]), rv = Tensor.Create(Enumerable.Repeat(1f, 16).ToArray(), [16]);
                void Round()
                {
                    foreach (var (x, dy, y, dx) in halves) { layer.Forward(x, y); layer.Backward(dy, dx); Functional.BatchNorm(x, rm, rv, null, null, true, 0.1, 1e-5, y); }
                    foreach (var (x, dy, y, dx) in bfloats) { layer.Forward(x, y); layer.Backward(dy, dx); Functional.BatchNorm(x, rm, rv, null, null, true, 0.1, 1e-5, y); }
                }

                Round();
                Round();
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int round = 0; round < 3; round++) Round();
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated == 0, $"{layer.ModuleName}: {allocated} bytes over 3 rounds of float16 and bfloat16 calls");
            }
        }
        finally
        {
            NormSharpOptions.MaxDegreeOfParallelism = original;
        }

        static Tensor<Half> Half(nint[] shape, int seed) => Tensor.Create(Random(seed, shape).ToArray().Select(v => (Half)v).ToArray(), shape);

        static Tensor<BFloat16> BFloat(nint[] shape, int seed) => Tensor.Create(Random(seed, shape).ToArray().Select(v => (BFloat16)v).ToArray(), shape);
    }
}
