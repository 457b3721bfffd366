using System.Diagnostics;

namespace NormSharp.Distributed.Mpi;

/// <summary>
/// One MPI communicator and its collectives on doubles, each started non-blocking (<c>MPI_I...</c>) and completed by
/// polling <c>MPI_Test</c> until a deadline. Arguments are the caller's business (checked by
/// <see cref="MpiProcessGroup"/>); buffers are pinned by the caller for the whole call.
/// </summary>
internal sealed unsafe class MpiCommunicator
{
    /// <summary>Poll without pause this long: a collective between ready peers completes in microseconds.</summary>
    private static readonly TimeSpan SpinPhase = TimeSpan.FromMilliseconds(0.1);

    /// <summary>Then yield the core between polls this long (peers may share it), then sleep 1 ms between polls.</summary>
    private static readonly TimeSpan YieldPhase = TimeSpan.FromMilliseconds(20);

    private readonly MpiSession session;

    /// <summary>Wraps <paramref name="handle"/> (a live communicator of <paramref name="session"/>).</summary>
    public MpiCommunicator(MpiSession session, nint handle, int rank, int size)
    {
        this.session = session;
        Handle = handle;
        Rank = rank;
        Size = size;
    }

    /// <summary>The communicator's handle.</summary>
    public nint Handle { get; }

    /// <summary>This process's rank in the communicator.</summary>
    public int Rank { get; }

    /// <summary>The communicator's size.</summary>
    public int Size { get; }

    /// <summary>The session's library name, e.g. "Open MPI 4.1.4".</summary>
    public string Library => session.Library;

    /// <summary><c>MPI_COMM_WORLD</c> of <paramref name="session"/>.</summary>
    public static MpiCommunicator World(MpiSession session)
    {
        MpiBinding binding = session.Binding;
        int rank, size, code;
        lock (session.Gate)
        {
            code = binding.CommRank(binding.CommWorld, out rank);
            if (code == MpiBinding.Success) code = binding.CommSize(binding.CommWorld, out size);
            else size = session.Launch.Size;
        }

        if (code != MpiBinding.Success) throw session.Error("MPI_Comm_rank", code, session.Launch.Rank, session.Launch.Size);
        return new MpiCommunicator(session, binding.CommWorld, rank, size);
    }

    /// <summary>Every rank's <paramref name="count"/> values, in rank order, into <paramref name="receive"/>.</summary>
    public void AllGather(double* send, int count, double* receive, TimeSpan timeout)
    {
        const string call = "MPI_Iallgather";
        nint request;
        int code;
        lock (session.Gate)
        {
            session.ThrowIfUnusable(call, Rank, Size);
            code = session.Binding.Iallgather(send, count, receive, Handle, out request);
        }

        Complete(call, code, request, timeout);
    }

    /// <summary>The element-wise sum over the ranks, in place.</summary>
    public void AllReduceSum(double* values, int count, TimeSpan timeout)
    {
        const string call = "MPI_Iallreduce";
        nint request;
        int code;
        lock (session.Gate)
        {
            session.ThrowIfUnusable(call, Rank, Size);
            code = session.Binding.IallreduceSumInPlace(values, count, Handle, out request);
        }

        Complete(call, code, request, timeout);
    }

    /// <summary>Rank <paramref name="root"/>'s values to every rank.</summary>
    public void Broadcast(double* values, int count, int root, TimeSpan timeout)
    {
        const string call = "MPI_Ibcast";
        nint request;
        int code;
        lock (session.Gate)
        {
            session.ThrowIfUnusable(call, Rank, Size);
            code = session.Binding.Ibcast(values, count, root, Handle, out request);
        }

        Complete(call, code, request, timeout);
    }

    /// <summary>Returns when every rank has called it.</summary>
    public void Barrier(TimeSpan timeout, string? context = null)
    {
        const string call = "MPI_Ibarrier";
        nint request;
        int code;
        lock (session.Gate)
        {
            session.ThrowIfUnusable(call, Rank, Size);
            code = session.Binding.Ibarrier(Handle, out request);
        }

        Complete(call, code, request, timeout, context);
    }

    /// <summary>
    /// <c>MPI_Comm_split</c>: the ranks with the same non-negative <paramref name="color"/> form a communicator, ordered by
    /// <paramref name="key"/> (then by rank); null for a negative color.
    /// </summary>
    /// <remarks>
    /// MPI has no non-blocking split, so a barrier with the deadline goes first: a peer that never comes makes it time out
    /// instead of the split hanging.
    /// </remarks>
    public MpiCommunicator? Split(int color, int key, TimeSpan timeout)
    {
        Barrier(timeout, " (before MPI_Comm_split)");

        const string call = "MPI_Comm_split";
        nint created;
        int code, rank = 0, size = 0;
        lock (session.Gate)
        {
            session.ThrowIfUnusable(call, Rank, Size);
            code = session.Binding.CommSplit(Handle, color, key, out created);
            if (code == MpiBinding.Success && created != 0)
            {
                code = session.Binding.CommRank(created, out rank);
                if (code == MpiBinding.Success) code = session.Binding.CommSize(created, out size);
            }
        }

        if (code != MpiBinding.Success) throw session.Error(call, code, Rank, Size);
        return created == 0 ? null : new MpiCommunicator(session, created, rank, size);
    }

    /// <summary><c>MPI_Comm_free</c>, unless MPI can no longer be called (finalized, or broken: the handle is then left to
    /// the process's end).</summary>
    public void Free()
    {
        const string call = "MPI_Comm_free";
        int code;
        lock (session.Gate)
        {
            if (!session.IsUsable) return;
            code = session.Binding.CommFree(Handle);
        }

        if (code != MpiBinding.Success) throw session.Error(call, code, Rank, Size);
    }

    /// <summary>Throws for a failed start; otherwise polls <c>MPI_Test</c> until the request completes or the deadline passes.</summary>
    private void Complete(string call, int startCode, nint request, TimeSpan timeout, string? context = null)
    {
        // A call that failed to start holds no request and no buffer: the session stays usable.
        if (startCode != MpiBinding.Success) throw session.Error(call, startCode, Rank, Size, context);

        long started = Stopwatch.GetTimestamp();
        while (true)
        {
            int code;
            bool completed;
            lock (session.Gate)
            {
                session.ThrowIfUnusable("MPI_Test", Rank, Size);
                code = session.Binding.Test(ref request, out completed);
            }

            if (code != MpiBinding.Success)
            {
                // The error belongs to the operation; MPI_Test only reports it.
                MpiException error = session.Error(call, code, Rank, Size, $"{context} (reported by MPI_Test)");
                session.MarkBroken($"{call}{context} failed on rank {Rank} of {Size} with its request outstanding: {error.ErrorString}");
                throw error;
            }

            if (completed) return;

            TimeSpan waited = Stopwatch.GetElapsedTime(started);
            if (timeout != Timeout.InfiniteTimeSpan && waited >= timeout)
            {
                string what = $"{call}{context} did not complete within {timeout:c} on rank {Rank} of {Size}";
                session.MarkBroken($"{what}, and an outstanding MPI request cannot be cancelled.");
                throw new MpiException(
                    $"{what}: another process is not taking part (it failed, or it is running a different operation). "
                    + "This process can no longer use MPI: an outstanding MPI request cannot be cancelled.",
                    call,
                    timedOut: true);
            }

            if (waited < SpinPhase) Thread.SpinWait(16);
            else if (waited < YieldPhase) Thread.Yield();
            else Thread.Sleep(1);
        }
    }
}
