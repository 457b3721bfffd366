namespace NormSharp;

// The guard that turns overlapping calls on one layer into an exception instead of corrupted state.
public abstract partial class NormBase<T>
{
    // 0: idle; n > 0: n shared calls (evaluation forwards that change nothing) running; -1: one exclusive call running.
    private int activeCalls;

    /// <summary>
    /// Enters a call: an exclusive one (it changes the layer's state) runs only alone; shared ones (they only read) run
    /// together. Throws, changing nothing, when the call would overlap one it cannot run with.
    /// </summary>
    private void EnterCall(bool exclusive, string operation)
    {
        if (exclusive)
        {
            if (Interlocked.CompareExchange(ref activeCalls, -1, 0) != 0) throw Overlapping(operation);
            return;
        }

        while (true)
        {
            int active = Volatile.Read(ref activeCalls);
            if (active < 0) throw Overlapping(operation);
            if (Interlocked.CompareExchange(ref activeCalls, active + 1, active) == active) return;
        }
    }

    /// <summary>Leaves a call entered with <see cref="EnterCall"/>.</summary>
    private void ExitCall(bool exclusive)
    {
        if (exclusive) Volatile.Write(ref activeCalls, 0);
        else Interlocked.Decrement(ref activeCalls);
    }

    private InvalidOperationException Overlapping(string operation) =>
        new($"{ModuleName}.{operation} was called while another call on this layer was running on another thread. A training " +
            "Forward, Backward, LoadStateDict and the resets change the layer and must run alone on it; only evaluation " +
            "Forwards that change nothing may run concurrently. Use one layer per thread, or synchronize the calls.");
}
