namespace NormSharp;

/// <summary>A unit of parallel work: processes item <c>index</c> of a fixed list; must not depend on which thread runs it.</summary>
internal interface IParallelWork
{
    /// <summary>Processes one item.</summary>
    void Run(int index);
}

/// <summary>
/// The one place NormSharp runs work on several threads: persistent helper threads that take items of a
/// fixed list from a shared counter. No allocation per call. Item boundaries are chosen by the callers
/// from the shape alone, and every reduction combines per-item partials in item order afterwards, so the
/// results are bit-identical for any degree of parallelism.
/// </summary>
internal static class WorkerPool
{
    private static readonly object Gate = new();
    private static readonly SemaphoreSlim Start = new(0);
    // The caller waits for the helpers on this lock (spinning first): unlike ManualResetEventSlim, whose lock object is
    // created by the first wait that blocks, nothing here allocates after the first call.
    private static readonly object FinishedGate = new();
    private static bool finished;
    private static readonly List<Thread> Helpers = [];
    private static IParallelWork? current;
    private static int itemCount, nextItem, activeHelpers;
    private static Exception? failure;

    /// <summary>Runs items 0 .. <paramref name="count"/> - 1 of <paramref name="work"/>, on up to
    /// <see cref="NormSharpOptions.MaxDegreeOfParallelism"/> threads (the caller included); <paramref name="serial"/>: on the
    /// calling thread only (work too small to hand out).</summary>
    public static void For(int count, IParallelWork work, bool serial = false)
    {
        int degree = serial ? 1 : Math.Min(NormSharpOptions.MaxDegreeOfParallelism, count);
        // One item, one thread, or the pool busy with another caller's work: run inline, in order.
        if (degree <= 1 || !Monitor.TryEnter(Gate))
        {
            for (int i = 0; i < count; i++) work.Run(i);
            return;
        }

        try
        {
            int helpers = degree - 1;
            while (Helpers.Count < helpers)
            {
                var thread = new Thread(HelperLoop) { IsBackground = true, Name = $"NormSharp worker {Helpers.Count + 1}" };
                Helpers.Add(thread);
                thread.Start();
            }

            current = work;
            itemCount = count;
            nextItem = 0;
            failure = null;
            activeHelpers = helpers;
            Volatile.Write(ref finished, false);
            Start.Release(helpers);
            RunItems(work);
            WaitForHelpers();
            current = null;
            if (failure is not null) throw new AggregateException(failure);
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    private static void HelperLoop()
    {
        while (true)
        {
            Start.Wait();
            try
            {
                RunItems(current!);
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                if (Interlocked.Decrement(ref activeHelpers) == 0)
                {
                    lock (FinishedGate)
                    {
                        Volatile.Write(ref finished, true);
                        Monitor.PulseAll(FinishedGate);
                    }
                }
            }
        }
    }

    private static void WaitForHelpers()
    {
        var spinner = new SpinWait();
        while (!Volatile.Read(ref finished))
        {
            if (spinner.NextSpinWillYield)
            {
                lock (FinishedGate)
                {
                    while (!finished) Monitor.Wait(FinishedGate);
                }

                return;
            }

            spinner.SpinOnce();
        }
    }

    private static void RunItems(IParallelWork work)
    {
        int count = itemCount;
        for (int i = Interlocked.Increment(ref nextItem) - 1; i < count; i = Interlocked.Increment(ref nextItem) - 1)
            work.Run(i);
    }
}
