using System.Globalization;
using NormSharp.Distributed.Mpi;

namespace NormSharp.Distributed;

/// <summary>
/// A process group over the system's MPI library (Open MPI or MPICH, found at run time, no package needed): the
/// processes started by <c>mpirun</c> / <c>mpiexec</c>, or a sub-group of them made by <see cref="Split"/>. Started
/// without a launcher, the program is a one-process world that needs no MPI at all.
/// </summary>
/// <remarks>
/// <para>
/// The library is the launcher's: <c>libmpi.so.40</c> when Open MPI's <c>mpirun</c> started the process (it sets
/// <c>OMPI_COMM_WORLD_SIZE</c>), <c>libmpich.so.12</c> under MPICH's <c>mpiexec</c> (<c>PMI_SIZE</c>); the environment
/// variable <c>NORMSHARP_MPI_LIBRARY</c> (a path or file name) overrides it. <see cref="World"/> initializes MPI on first
/// use (<c>MPI_THREAD_SERIALIZED</c>; calls from several threads are serialized) and finalizes it at process exit.
/// </para>
/// <para>
/// Each collective starts MPI's non-blocking operation and waits for it until <see cref="Timeout"/> (10 minutes, or
/// <c>NORMSHARP_MPI_TIMEOUT_SECONDS</c>): a peer that died or runs a different operation makes it throw an
/// <see cref="MpiException"/> instead of hanging, after which this process makes no further MPI call (an MPI request
/// cannot be cancelled). Every MPI error is an <see cref="MpiException"/> naming the call, the rank and MPI's text.
/// </para>
/// </remarks>
/// <example>
/// Run with <c>mpirun -np 2 dotnet app.dll</c> (or plain <c>dotnet app.dll</c> for one process):
/// <code>
/// MpiProcessGroup world = MpiProcessGroup.World;
/// double[] stats = [world.Rank + 1.0];
/// double[] all = new double[world.Size];
/// world.AllGather(stats, all);            // [1, 2] on both ranks
/// world.AllReduceSum(stats);              // [3] on both ranks
/// using MpiProcessGroup? evens = world.Split(world.Rank % 2 == 0 ? 0 : -1, key: world.Rank);  // null on odd ranks
/// </code>
/// </example>
public sealed unsafe class MpiProcessGroup : IProcessGroup, IDisposable
{
    /// <summary>The environment variable that sets the default <see cref="Timeout"/>, in seconds.</summary>
    public const string TimeoutVariable = "NORMSHARP_MPI_TIMEOUT_SECONDS";

    private const string SingleProcessLibrary = "none (single process)";

    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);
    private static readonly Lazy<MpiProcessGroup> world = new(CreateWorld, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The MPI communicator; null for a group of this process alone that needs no MPI.</summary>
    private readonly MpiCommunicator? communicator;
    private readonly bool isWorld;
    private TimeSpan timeout;
    private bool disposed;

    private MpiProcessGroup(MpiCommunicator? communicator, bool isWorld, TimeSpan timeout)
    {
        this.communicator = communicator;
        this.isWorld = isWorld;
        this.timeout = timeout;
    }

    /// <summary>
    /// Every process the launcher started (<c>MPI_COMM_WORLD</c>), created on first use; without a launcher, this process
    /// alone (rank 0 of 1, collectives are copies, no native library is loaded).
    /// </summary>
    /// <exception cref="DllNotFoundException">A launcher started the process but its MPI library cannot be loaded; the
    /// message names the file tried and the package to install.</exception>
    /// <exception cref="MpiException">MPI failed to initialize, or the loaded library is not the launcher's MPI.</exception>
    /// <exception cref="InvalidOperationException">A launcher variable or <c>NORMSHARP_MPI_TIMEOUT_SECONDS</c> is invalid.</exception>
    public static MpiProcessGroup World => world.Value;

    /// <inheritdoc/>
    public int Rank => communicator?.Rank ?? 0;

    /// <inheritdoc/>
    public int Size => communicator?.Size ?? 1;

    /// <summary>The MPI implementation, e.g. "Open MPI 4.1.4" or "MPICH 4.0.2" (from <c>MPI_Get_library_version</c>), or
    /// "none (single process)" when the process was started without a launcher.</summary>
    public string Library => communicator?.Library ?? SingleProcessLibrary;

    /// <summary>Whether the group runs over MPI: it has more than one process, or the process was started by a launcher.</summary>
    public bool IsDistributed => Size > 1 || communicator is not null;

    /// <summary>
    /// How long a collective waits for the other processes before it throws an <see cref="MpiException"/>: 10 minutes by
    /// default, or <c>NORMSHARP_MPI_TIMEOUT_SECONDS</c>; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> waits
    /// forever. A group made by <see cref="Split"/> starts with its parent's.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is neither positive nor infinite.</exception>
    public TimeSpan Timeout
    {
        get => timeout;
        set
        {
            if (value <= TimeSpan.Zero && value != System.Threading.Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "The timeout must be positive, or Timeout.InfiniteTimeSpan.");
            }

            timeout = value;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="receive"/> is not <see cref="Size"/> times as long as <paramref name="send"/>.</exception>
    /// <exception cref="MpiException">MPI failed, or the other processes did not take part within <see cref="Timeout"/>.</exception>
    public void AllGather(ReadOnlySpan<double> send, Span<double> receive)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (receive.Length != (long)send.Length * Size)
        {
            throw new ArgumentException(
                $"AllGather receives {Size} x {send.Length} = {(long)send.Length * Size} values (Size times the send length), "
                + $"but receive has {receive.Length}.",
                nameof(receive));
        }

        if (communicator is null)
        {
            send.CopyTo(receive);
            return;
        }

        fixed (double* sendBuffer = send)
        fixed (double* receiveBuffer = receive)
        {
            communicator.AllGather(sendBuffer, send.Length, receiveBuffer, timeout);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="MpiException">MPI failed, or the other processes did not take part within <see cref="Timeout"/>.</exception>
    public void AllReduceSum(Span<double> values)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (communicator is null) return;

        fixed (double* buffer = values)
        {
            communicator.AllReduceSum(buffer, values.Length, timeout);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="root"/> is not a rank of the group.</exception>
    /// <exception cref="MpiException">MPI failed, or the other processes did not take part within <see cref="Timeout"/>.</exception>
    public void Broadcast(Span<double> values, int root)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if ((uint)root >= (uint)Size)
        {
            throw new ArgumentOutOfRangeException(nameof(root), root, $"The root must be a rank of the group, 0 to {Size - 1}.");
        }

        if (communicator is null) return;

        fixed (double* buffer = values)
        {
            communicator.Broadcast(buffer, values.Length, root, timeout);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="MpiException">MPI failed, or the other processes did not take part within <see cref="Timeout"/>.</exception>
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        communicator?.Barrier(timeout);
    }

    /// <summary>
    /// Splits the group into sub-groups, PyTorch's <c>new_group</c> (<c>MPI_Comm_split</c>): the processes that pass the
    /// same non-negative <paramref name="color"/> form one group, ranked by <paramref name="key"/> (ties by their rank
    /// here). Every process of this group must call it.
    /// </summary>
    /// <param name="color">The sub-group to join; negative to join none (<c>MPI_UNDEFINED</c>).</param>
    /// <param name="key">Orders the processes within the sub-group.</param>
    /// <returns>This process's sub-group (dispose it when done), or null when <paramref name="color"/> is negative.</returns>
    /// <exception cref="MpiException">MPI failed, or the other processes did not take part within <see cref="Timeout"/>.</exception>
    /// <example><c>using MpiProcessGroup? pair = world.Split(color: world.Rank / 2, key: world.Rank);</c></example>
    public MpiProcessGroup? Split(int color, int key)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (communicator is null) return color < 0 ? null : new MpiProcessGroup(null, isWorld: false, timeout);

        MpiCommunicator? part = communicator.Split(color, key, timeout);
        return part is null ? null : new MpiProcessGroup(part, isWorld: false, timeout);
    }

    /// <summary>Frees a sub-group's communicator (<c>MPI_Comm_free</c>); does nothing for <see cref="World"/>, which lives
    /// until the process exits.</summary>
    /// <exception cref="MpiException">MPI failed to free the communicator.</exception>
    public void Dispose()
    {
        if (isWorld || disposed) return;
        disposed = true;
        communicator?.Free();
    }

    /// <summary>"rank 1 of 4 (Open MPI 4.1.4)".</summary>
    public override string ToString() => $"rank {Rank} of {Size} ({Library})";

    private static MpiProcessGroup CreateWorld()
    {
        TimeSpan initialTimeout = TimeoutFromEnvironment();
        MpiLaunch? launch = MpiLaunch.FromEnvironment();
        if (launch is null) return new MpiProcessGroup(null, isWorld: true, initialTimeout);

        MpiSession session = MpiSession.Start(launch);
        return new MpiProcessGroup(MpiCommunicator.World(session), isWorld: true, initialTimeout);
    }

    private static TimeSpan TimeoutFromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable(TimeoutVariable);
        if (string.IsNullOrWhiteSpace(text)) return DefaultTimeout;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds)
            && seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        throw new InvalidOperationException($"{TimeoutVariable} is '{text}', not a positive number of seconds.");
    }
}
