using System.Runtime.InteropServices;
using System.Text;

namespace NormSharp.Distributed.Mpi;

/// <summary>
/// The MPI functions this library calls, over one loaded MPI library's C ABI, through unmanaged function pointers.
/// </summary>
/// <remarks>
/// <para>
/// Communicators and requests cross this boundary as <see cref="nint"/>: Open MPI's handles are pointers, MPICH's are
/// <c>int</c>s (widened here), and each subclass converts to its own types at the call. 0 stands for "no communicator"
/// (<c>MPI_COMM_NULL</c>): neither implementation ever gives 0 for a live one.
/// </para>
/// <para>
/// The functions without handle arguments have one ABI in both implementations and are bound here. Every function returns
/// MPI's error code (<see cref="Success"/> or an implementation-specific code); the caller turns codes into exceptions.
/// Nothing here is thread-safe: <see cref="MpiSession"/> serializes every call.
/// </para>
/// </remarks>
internal abstract unsafe class MpiBinding
{
    /// <summary><c>MPI_SUCCESS</c>, 0 in both mpi.h files.</summary>
    public const int Success = 0;

    /// <summary><c>MPI_THREAD_SERIALIZED</c>, 2 in both mpi.h files (an enum in Open MPI's, a #define in MPICH's).</summary>
    public const int ThreadSerialized = 2;

    /// <summary><c>MPI_UNDEFINED</c>, -32766 in both mpi.h files: the color of a process that joins no group in a split.</summary>
    protected const int Undefined = -32766;

    private readonly delegate* unmanaged<int*, int> initialized;
    private readonly delegate* unmanaged<int*, int> finalized;
    private readonly delegate* unmanaged<int*, byte***, int, int*, int> initThread;
    private readonly delegate* unmanaged<int> finalize;
    private readonly delegate* unmanaged<int, byte*, int*, int> errorString;
    private readonly delegate* unmanaged<byte*, int*, int> getLibraryVersion;

    /// <summary>Binds the handle-free functions of <paramref name="library"/>.</summary>
    /// <param name="flavour">The implementation whose ABI the subclass speaks.</param>
    /// <param name="path">The file name or path the library was loaded from, for messages.</param>
    /// <param name="library">The handle from <see cref="NativeLibrary.Load(string)"/>; never freed (MPI cannot be unloaded).</param>
    protected MpiBinding(MpiFlavour flavour, string path, nint library)
    {
        Flavour = flavour;
        Path = path;
        Library = library;
        initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        initThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Export("MPI_Init_thread");
        finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        errorString = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
        getLibraryVersion = (delegate* unmanaged<byte*, int*, int>)Export("MPI_Get_library_version");
    }

    /// <summary>The file name or path the library was loaded from.</summary>
    public string Path { get; }

    /// <summary>The implementation whose ABI this binding speaks.</summary>
    public MpiFlavour Flavour { get; }

    /// <summary><c>MPI_COMM_WORLD</c>.</summary>
    public abstract nint CommWorld { get; }

    /// <summary>The loaded library's handle.</summary>
    protected nint Library { get; }

    /// <summary><c>MPI_MAX_ERROR_STRING</c> of this implementation's mpi.h.</summary>
    protected abstract int MaxErrorString { get; }

    /// <summary><c>MPI_MAX_LIBRARY_VERSION_STRING</c> of this implementation's mpi.h.</summary>
    protected abstract int MaxLibraryVersionString { get; }

    /// <summary><c>MPI_Initialized(int *flag)</c>.</summary>
    public int Initialized(out bool isInitialized)
    {
        int flag;
        int code = initialized(&flag);
        isInitialized = flag != 0;
        return code;
    }

    /// <summary><c>MPI_Finalized(int *flag)</c>.</summary>
    public int Finalized(out bool isFinalized)
    {
        int flag;
        int code = finalized(&flag);
        isFinalized = flag != 0;
        return code;
    }

    /// <summary><c>MPI_Init_thread(NULL, NULL, required, &amp;provided)</c>: MPI-2 lets argc and argv be null.</summary>
    public int InitThread(int required, out int provided)
    {
        int level;
        int code = initThread(null, null, required, &level);
        provided = level;
        return code;
    }

    /// <summary><c>MPI_Finalize(void)</c>.</summary>
    public int Finalize() => finalize();

    /// <summary>MPI's text for <paramref name="errorCode"/> (<c>MPI_Error_string</c>), or a placeholder when it has none.</summary>
    public string ErrorString(int errorCode)
    {
        byte* text = stackalloc byte[MaxErrorString + 1];
        int length = 0;
        int code = errorString(errorCode, text, &length);
        return code == Success && length > 0
            ? Encoding.UTF8.GetString(text, Math.Min(length, MaxErrorString)).TrimEnd('\0', '\n', ' ')
            : $"no text for error code {errorCode}";
    }

    /// <summary>The implementation's version text (<c>MPI_Get_library_version</c>, callable before <c>MPI_Init</c>).</summary>
    public string LibraryVersion() => LibraryVersion(getLibraryVersion, MaxLibraryVersionString);

    /// <summary><c>MPI_Get_library_version</c> through a function pointer, for telling a library's flavour before binding it.</summary>
    /// <param name="function">The exported <c>MPI_Get_library_version</c>.</param>
    /// <param name="capacity">At least the implementation's <c>MPI_MAX_LIBRARY_VERSION_STRING</c>.</param>
    public static string LibraryVersion(delegate* unmanaged<byte*, int*, int> function, int capacity)
    {
        byte[] text = new byte[capacity + 1];
        int length = 0;
        fixed (byte* buffer = text)
        {
            if (function(buffer, &length) != Success) return string.Empty;
        }

        return Encoding.UTF8.GetString(text, 0, Math.Clamp(length, 0, capacity)).TrimEnd('\0', '\n', ' ');
    }

    /// <summary><c>MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)</c>: errors come back as codes instead of aborting.</summary>
    public abstract int SetErrorsReturn(nint comm);

    /// <summary><c>MPI_Comm_size</c>.</summary>
    public abstract int CommSize(nint comm, out int size);

    /// <summary><c>MPI_Comm_rank</c>.</summary>
    public abstract int CommRank(nint comm, out int rank);

    /// <summary><c>MPI_Comm_split</c>; a negative <paramref name="color"/> is passed as <c>MPI_UNDEFINED</c>, and
    /// <paramref name="newComm"/> is 0 when the process joins no group (<c>MPI_COMM_NULL</c>).</summary>
    public abstract int CommSplit(nint comm, int color, int key, out nint newComm);

    /// <summary><c>MPI_Comm_free</c>.</summary>
    public abstract int CommFree(nint comm);

    /// <summary><c>MPI_Abort(comm, errorcode)</c>: ends every process of the job.</summary>
    public abstract int Abort(nint comm, int errorCode);

    /// <summary><c>MPI_Iallgather(send, count, MPI_DOUBLE, receive, count, MPI_DOUBLE, comm, &amp;request)</c>.</summary>
    public abstract int Iallgather(double* send, int count, double* receive, nint comm, out nint request);

    /// <summary><c>MPI_Iallreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, comm, &amp;request)</c>.</summary>
    public abstract int IallreduceSumInPlace(double* values, int count, nint comm, out nint request);

    /// <summary><c>MPI_Ibcast(values, count, MPI_DOUBLE, root, comm, &amp;request)</c>.</summary>
    public abstract int Ibcast(double* values, int count, int root, nint comm, out nint request);

    /// <summary><c>MPI_Ibarrier(comm, &amp;request)</c>.</summary>
    public abstract int Ibarrier(nint comm, out nint request);

    /// <summary><c>MPI_Test(&amp;request, &amp;flag, MPI_STATUS_IGNORE)</c>; a completed request is freed (set to
    /// <c>MPI_REQUEST_NULL</c>) by MPI.</summary>
    public abstract int Test(ref nint request, out bool completed);

    /// <summary>The address of the exported function or object <paramref name="name"/>.</summary>
    /// <exception cref="EntryPointNotFoundException">The library does not export it (not an MPI-3 library of this flavour).</exception>
    protected void* Export(string name)
    {
        if (NativeLibrary.TryGetExport(Library, name, out nint address)) return (void*)address;
        throw new EntryPointNotFoundException(
            $"The MPI library '{Path}' does not export {name}: NormSharp.Distributed needs an MPI-3 library "
            + $"({Flavour.Name}'s ABI was expected from this file).");
    }
}
