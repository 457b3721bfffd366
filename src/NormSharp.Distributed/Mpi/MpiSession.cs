namespace NormSharp.Distributed.Mpi;

/// <summary>
/// This process's MPI, from <c>MPI_Init_thread</c> to <c>MPI_Finalize</c>: the bound library, the lock that serializes
/// every call into it, and whether it may still be called.
/// </summary>
/// <remarks>
/// <para>
/// MPI is initialized with <c>MPI_THREAD_SERIALIZED</c>: calls may come from any thread, one at a time. Each single call
/// (not a whole collective) holds <see cref="Gate"/>, so a thread that waits for one group's collective never blocks
/// another group's.
/// </para>
/// <para>
/// A collective that timed out, or failed while its request was outstanding, makes the session broken: MPI cannot cancel
/// the request, and any later call into MPI (including <c>MPI_Finalize</c>) could progress it into buffers that are no
/// longer pinned, or wait forever for the peer that never came. So a broken session makes no further MPI call, and at
/// process exit it skips <c>MPI_Finalize</c> (Open MPI's launcher then reports the job as failed, which it has).
/// </para>
/// </remarks>
internal sealed class MpiSession
{
    private string? unusableReason;
    private bool broken;

    private MpiSession(MpiBinding binding, MpiLaunch launch)
    {
        Binding = binding;
        Launch = launch;
    }

    /// <summary>The bound library.</summary>
    public MpiBinding Binding { get; }

    /// <summary>What the launcher said about this job.</summary>
    public MpiLaunch Launch { get; }

    /// <summary>Held for every call into <see cref="Binding"/>, and while the session's state changes.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The implementation and version, e.g. "Open MPI 4.1.4".</summary>
    public string Library { get; private set; } = string.Empty;

    /// <summary>
    /// Loads the library, initializes MPI (unless the host program already did), makes <c>MPI_COMM_WORLD</c> return error
    /// codes, and checks that the library sees the processes the launcher started.
    /// </summary>
    /// <exception cref="DllNotFoundException">The library cannot be loaded.</exception>
    /// <exception cref="MpiException">An MPI call failed, or the library is not the launcher's MPI.</exception>
    public static MpiSession Start(MpiLaunch launch)
    {
        var session = new MpiSession(MpiLibrary.Load(launch), launch);
        session.Initialize();
        return session;
    }

    /// <summary>Throws unless MPI may still be called; the caller holds <see cref="Gate"/>.</summary>
    /// <param name="call">The MPI function about to be called, for the message.</param>
    /// <param name="rank">The caller's rank in its group.</param>
    /// <param name="size">The caller's group size.</param>
    public void ThrowIfUnusable(string call, int rank, int size)
    {
        if (unusableReason is not null)
        {
            throw new MpiException($"{call} was not started on rank {rank} of {size}: this process can no longer use MPI, because {unusableReason}", call);
        }
    }

    /// <summary>Whether MPI may still be called (<see cref="ThrowIfUnusable"/> would not throw).</summary>
    public bool IsUsable
    {
        get
        {
            lock (Gate) return unusableReason is null;
        }
    }

    /// <summary>Stops every later MPI call of this process: a request is outstanding that MPI cannot cancel.</summary>
    /// <param name="reason">What happened, completing "this process can no longer use MPI, because ...".</param>
    public void MarkBroken(string reason)
    {
        lock (Gate)
        {
            broken = true;
            unusableReason ??= reason;
        }
    }

    /// <summary>An <see cref="MpiException"/> for <paramref name="code"/> returned by <paramref name="call"/>, with MPI's text.</summary>
    public MpiException Error(string call, int code, int rank, int size, string? context = null)
    {
        string text;
        lock (Gate) text = Binding.ErrorString(code);
        return new MpiException($"{call}{context} failed on rank {rank} of {size}: {text} (MPI error code {code}).", call, code, text);
    }

    private void Initialize()
    {
        int rank = Launch.Rank, size = Launch.Size;
        lock (Gate)
        {
            Check("MPI_Initialized", Binding.Initialized(out bool initialized));
            Check("MPI_Finalized", Binding.Finalized(out bool finalized));
            if (finalized)
            {
                throw new MpiException($"MPI_Finalized on rank {rank} of {size}: the host program already finalized MPI, which cannot be initialized again.", "MPI_Finalized");
            }

            if (!initialized)
            {
                Check("MPI_Init_thread", Binding.InitThread(MpiBinding.ThreadSerialized, out int provided));
                // Registered at once, so that a failed check below still leaves MPI finalized at exit.
                AppDomain.CurrentDomain.ProcessExit += (_, _) => FinalizeAtExit();
                AppDomain.CurrentDomain.UnhandledException += (_, e) => AbortJob(e.ExceptionObject);
                if (provided < MpiBinding.ThreadSerialized)
                {
                    throw new MpiException(
                        $"MPI_Init_thread on rank {rank} of {size}: '{Binding.Path}' provides thread level {provided}, below "
                        + "MPI_THREAD_SERIALIZED (2), which NormSharp.Distributed needs (its calls come from any thread, one at a time).",
                        "MPI_Init_thread");
                }
            }

            Check("MPI_Comm_set_errhandler", Binding.SetErrorsReturn(Binding.CommWorld));
            Check("MPI_Comm_size", Binding.CommSize(Binding.CommWorld, out int worldSize));
            Library = MpiLibrary.ShortName(Binding.LibraryVersion());
            if (worldSize != Launch.Size)
            {
                throw new MpiException(
                    $"The loaded MPI library is not the launcher's MPI: '{Binding.Path}' ({Library}) sees {worldSize} process(es) "
                    + $"in MPI_COMM_WORLD, but {Launch} started {Launch.Size}. Start the program with the loaded library's "
                    + $"launcher, or set {MpiLibrary.LibraryVariable} to {Launch.Flavour.Name}'s library ({Launch.Flavour.LibraryFile}).",
                    "MPI_Comm_size");
            }
        }

        void Check(string call, int code)
        {
            if (code != MpiBinding.Success)
            {
                string text = Binding.ErrorString(code);
                throw new MpiException($"{call} failed on rank {rank} of {size}: {text} (MPI error code {code}).", call, code, text);
            }
        }
    }

    /// <summary>
    /// An unhandled exception ends this process: <c>MPI_Abort</c> ends the whole job at once, as mpi4py does, instead of
    /// leaving the other processes waiting in a collective for this one until their timeout. The exception is printed
    /// first (the runtime would print it only after this handler, which never returns).
    /// </summary>
    private void AbortJob(object exception)
    {
        lock (Gate)
        {
            Console.Error.WriteLine($"Unhandled exception on rank {Launch.Rank} of {Launch.Size}, ending the MPI job (MPI_Abort): {exception}");
            Console.Out.Flush();
            Console.Error.Flush();
            Binding.Abort(Binding.CommWorld, 1);
        }
    }

    private void FinalizeAtExit()
    {
        lock (Gate)
        {
            // A broken session has a request outstanding: MPI_Finalize could wait for it forever.
            if (broken) return;

            // A process that ends with a failure code may leave the others waiting in a collective it never joins, and
            // MPI_Finalize would wait for them: end the job instead.
            if (Environment.ExitCode != 0)
            {
                Console.Out.Flush();
                Console.Error.Flush();
                Binding.Abort(Binding.CommWorld, Environment.ExitCode);
                return;
            }

            unusableReason ??= "MPI was finalized at process exit.";
            if (Binding.Finalized(out bool finalized) == MpiBinding.Success && !finalized) Binding.Finalize();
        }
    }
}
