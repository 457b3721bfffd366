namespace NormSharp.Distributed;

/// <summary>
/// A group of processes that run the same program on different data, PyTorch's <c>ProcessGroup</c>: each knows its
/// rank and the group's size, and all take part in the same collective operations in the same order.
/// </summary>
/// <remarks>
/// Every collective is called by every process of the group, with the same lengths, in the same order; a process
/// that does not take part makes the others wait (until the group's timeout, for groups that have one). Collectives
/// on one group are not called concurrently from several threads.
/// </remarks>
public interface IProcessGroup
{
    /// <summary>This process's index in the group, 0 to <see cref="Size"/> - 1.</summary>
    int Rank { get; }

    /// <summary>The number of processes in the group.</summary>
    int Size { get; }

    /// <summary>
    /// Every process's <paramref name="send"/> (the same length on each), concatenated in rank order into
    /// <paramref name="receive"/> (<see cref="Size"/> times that length), on every process.
    /// </summary>
    /// <param name="send">This process's values.</param>
    /// <param name="receive">Receives rank 0's values, then rank 1's, and so on.</param>
    void AllGather(ReadOnlySpan<double> send, Span<double> receive);

    /// <summary>Replaces <paramref name="values"/> with their element-wise sum over the processes, on every process.</summary>
    /// <param name="values">This process's values in; the sum out.</param>
    void AllReduceSum(Span<double> values);

    /// <summary>Copies process <paramref name="root"/>'s <paramref name="values"/> to every process.</summary>
    /// <param name="values">The root's values in (the root); the root's values out (every process).</param>
    /// <param name="root">The rank whose values are sent.</param>
    void Broadcast(Span<double> values, int root);

    /// <summary>Returns when every process of the group has called it.</summary>
    void Barrier();
}
