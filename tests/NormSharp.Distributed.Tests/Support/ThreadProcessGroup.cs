namespace NormSharp.Distributed.Tests.Support;

/// <summary>
/// A process group of threads in one process, for tests: <see cref="Create"/> makes one group object per rank; each
/// rank's thread calls the collectives on its own object. Collectives meet at a barrier with a timeout, so a rank that
/// does not take part makes the others throw <see cref="TimeoutException"/> instead of waiting for ever. Nothing is
/// allocated per call once the slots have grown to the largest message.
/// </summary>
internal sealed class ThreadProcessGroup : IProcessGroup
{
    private readonly World world;

    private ThreadProcessGroup(World world, int rank)
    {
        this.world = world;
        Rank = rank;
    }

    /// <summary>How many collectives this rank has called.</summary>
    public int Collectives { get; private set; }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size => world.Size;

    /// <summary>One group object per rank, all over one shared world.</summary>
    public static ThreadProcessGroup[] Create(int size, TimeSpan timeout)
    {
        var world = new World(size, timeout);
        return [.. Enumerable.Range(0, size).Select(rank => new ThreadProcessGroup(world, rank))];
    }

    /// <summary>Runs <paramref name="body"/> once per rank, each on a thread of its own, and returns each rank's result or
    /// exception.</summary>
    public static (TResult? Result, Exception? Error)[] Run<TResult>(ThreadProcessGroup[] groups, Func<ThreadProcessGroup, TResult> body)
    {
        var results = new (TResult?, Exception?)[groups.Length];
        Thread[] threads = [.. groups.Select(group => new Thread(() =>
        {
            try
            {
                results[group.Rank] = (body(group), null);
            }
            catch (Exception e)
            {
                results[group.Rank] = (default, e);
            }
        }, 16 << 20))];
        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) thread.Join();
        return results;
    }

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<double> send, Span<double> receive)
    {
        if (receive.Length != Size * send.Length) throw new ArgumentException("receive must hold Size times send's length.", nameof(receive));
        Publish(send);
        int length = send.Length;
        for (int j = 0; j < Size; j++)
        {
            if (world.Lengths[j] != length) Mismatch();
            world.Slots[j].AsSpan(0, length).CopyTo(receive[(j * length)..]);
        }

        world.Wait(Rank);
    }

    /// <inheritdoc/>
    public void AllReduceSum(Span<double> values)
    {
        Publish(values);
        for (int j = 0; j < Size; j++) if (world.Lengths[j] != values.Length) Mismatch();
        for (int i = 0; i < values.Length; i++)
        {
            double sum = 0;
            for (int j = 0; j < Size; j++) sum += world.Slots[j][i];
            values[i] = sum;
        }

        world.Wait(Rank);
    }

    /// <inheritdoc/>
    public void Broadcast(Span<double> values, int root)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, Size);
        Publish(values);
        if (world.Lengths[root] != values.Length) Mismatch();
        world.Slots[root].AsSpan(0, values.Length).CopyTo(values);
        world.Wait(Rank);
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        Publish([]);
        world.Wait(Rank);
    }

    private void Publish(ReadOnlySpan<double> values)
    {
        // Every collective ends at a barrier, after which no rank reads the slots: they are free to overwrite here.
        Collectives++;
        if (world.Slots[Rank].Length < values.Length) world.Slots[Rank] = new double[values.Length];
        values.CopyTo(world.Slots[Rank]);
        world.Lengths[Rank] = values.Length;
        world.Wait(Rank);
    }

    private void Mismatch() => throw new InvalidOperationException($"rank {Rank}: the ranks called a collective with different lengths.");

    /// <summary>The ranks' shared slots and a spinning barrier (sense-reversing, with a timeout): no blocking primitive,
    /// so a collective allocates nothing, ever.</summary>
    private sealed class World(int size, TimeSpan timeout)
    {
        private int arrived, generation;

        public int Size { get; } = size;

        public double[][] Slots { get; } = [.. Enumerable.Range(0, size).Select(_ => Array.Empty<double>())];

        public int[] Lengths { get; } = new int[size];

        public void Wait(int rank)
        {
            int mine = Volatile.Read(ref generation);
            if (Interlocked.Increment(ref arrived) == Size)
            {
                Volatile.Write(ref arrived, 0);
                Interlocked.Increment(ref generation);
                return;
            }

            long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
            var spinner = new SpinWait();
            while (Volatile.Read(ref generation) == mine)
            {
                if (Environment.TickCount64 > deadline)
                    throw new TimeoutException($"rank {rank} waited {timeout.TotalSeconds} s for the other ranks: one of them is not taking part.");
                spinner.SpinOnce();
            }
        }
    }
}
