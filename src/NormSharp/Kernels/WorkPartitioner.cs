namespace NormSharp.Kernels;

/// <summary>
/// The one place NormSharp starts threads. Splits <c>[0, count)</c> into blocks whose edges depend
/// only on <c>count</c> and <c>minimumItemsPerBlock</c>, never on the thread count, and runs them
/// inline when there is a single block or parallelism is 1.
/// </summary>
internal static class WorkPartitioner
{
    /// <summary>Runs <paramref name="body"/>(start, end) over fixed blocks of <c>[0, count)</c>.</summary>
    /// <param name="count">Number of independent work items.</param>
    /// <param name="minimumItemsPerBlock">Items per block, so that a block amortizes a thread hand-off.</param>
    /// <param name="body">Processes items <c>[start, end)</c>; must not depend on which thread runs it.</param>
    public static void For(long count, long minimumItemsPerBlock, Action<long, long> body)
    {
        if (count <= 0) return;
        long blockSize = Math.Max(1, minimumItemsPerBlock);
        long blocks = (count + blockSize - 1) / blockSize;
        int degree = NormSharpOptions.MaxDegreeOfParallelism;
        if (blocks == 1 || degree == 1)
        {
            body(0, count);
            return;
        }

        var options = new ParallelOptions { MaxDegreeOfParallelism = degree };
        Parallel.For(0L, blocks, options, block =>
        {
            long start = block * blockSize;
            body(start, Math.Min(count, start + blockSize));
        });
    }
}
