namespace NormSharp.Distributed.Mpi;

/// <summary>
/// MPICH's C ABI (checked against MPICH 4.0.2's <c>/usr/include/x86_64-linux-gnu/mpich/mpi.h</c> and
/// <c>mpi_proto.h</c>; the MPICH ABI is shared by Intel MPI and MVAPICH): every handle type (<c>MPI_Comm</c>,
/// <c>MPI_Datatype</c>, <c>MPI_Op</c>, <c>MPI_Errhandler</c>, <c>MPI_Request</c>) is an <c>int</c>, and the predefined
/// handles are constants in mpi.h.
/// </summary>
/// <remarks>
/// The constants, from mpi.h: <c>MPI_COMM_WORLD ((MPI_Comm)0x44000000)</c>, <c>MPI_COMM_NULL ((MPI_Comm)0x04000000)</c>,
/// <c>MPI_DOUBLE ((MPI_Datatype)0x4c00080b)</c>, <c>MPI_SUM (MPI_Op)(0x58000003)</c>,
/// <c>MPI_ERRORS_RETURN ((MPI_Errhandler)0x54000001)</c>, <c>MPI_IN_PLACE (void *) -1</c>,
/// <c>MPI_STATUS_IGNORE (MPI_Status *)1</c>.
/// </remarks>
internal sealed unsafe class MpichBinding : MpiBinding
{
    private const int CommWorldHandle = 0x44000000;
    private const int CommNull = 0x04000000;
    private const int MpiDouble = 0x4c00080b;
    private const int OpSum = 0x58000003;
    private const int ErrorsReturn = 0x54000001;

    /// <summary>mpi.h: <c>#define MPI_IN_PLACE (void *) -1</c>.</summary>
    private static readonly void* InPlace = (void*)-1;

    /// <summary>mpi.h: <c>#define MPI_STATUS_IGNORE (MPI_Status *)1</c>.</summary>
    private static readonly void* StatusIgnore = (void*)1;

    private readonly delegate* unmanaged<int, int, int> commSetErrhandler;
    private readonly delegate* unmanaged<int, int*, int> commSize;
    private readonly delegate* unmanaged<int, int, int> abort;
    private readonly delegate* unmanaged<int, int*, int> commRank;
    private readonly delegate* unmanaged<int, int, int, int*, int> commSplit;
    private readonly delegate* unmanaged<int*, int> commFree;
    private readonly delegate* unmanaged<void*, int, int, void*, int, int, int, int*, int> iallgather;
    private readonly delegate* unmanaged<void*, void*, int, int, int, int, int*, int> iallreduce;
    private readonly delegate* unmanaged<void*, int, int, int, int, int*, int> ibcast;
    private readonly delegate* unmanaged<int, int*, int> ibarrier;
    private readonly delegate* unmanaged<int*, int*, void*, int> test;

    /// <summary>Binds MPICH's <paramref name="library"/>, loaded from <paramref name="path"/>.</summary>
    public MpichBinding(string path, nint library)
        : base(MpiFlavour.Mpich, path, library)
    {
        // The prototypes are Open MPI's (see OpenMpiBinding) with int in place of every handle type.
        commSetErrhandler = (delegate* unmanaged<int, int, int>)Export("MPI_Comm_set_errhandler");
        commSize = (delegate* unmanaged<int, int*, int>)Export("MPI_Comm_size");
        abort = (delegate* unmanaged<int, int, int>)Export("MPI_Abort");
        commRank = (delegate* unmanaged<int, int*, int>)Export("MPI_Comm_rank");
        commSplit = (delegate* unmanaged<int, int, int, int*, int>)Export("MPI_Comm_split");
        commFree = (delegate* unmanaged<int*, int>)Export("MPI_Comm_free");
        iallgather = (delegate* unmanaged<void*, int, int, void*, int, int, int, int*, int>)Export("MPI_Iallgather");
        iallreduce = (delegate* unmanaged<void*, void*, int, int, int, int, int*, int>)Export("MPI_Iallreduce");
        ibcast = (delegate* unmanaged<void*, int, int, int, int, int*, int>)Export("MPI_Ibcast");
        ibarrier = (delegate* unmanaged<int, int*, int>)Export("MPI_Ibarrier");
        test = (delegate* unmanaged<int*, int*, void*, int>)Export("MPI_Test");
    }

    /// <inheritdoc/>
    public override nint CommWorld => CommWorldHandle;

    /// <summary>mpi.h: <c>#define MPI_MAX_ERROR_STRING 512</c>.</summary>
    protected override int MaxErrorString => 512;

    /// <summary>mpi.h: <c>#define MPI_MAX_LIBRARY_VERSION_STRING 8192</c>.</summary>
    protected override int MaxLibraryVersionString => 8192;

    /// <inheritdoc/>
    public override int SetErrorsReturn(nint comm) => commSetErrhandler(Handle(comm), ErrorsReturn);

    /// <inheritdoc/>
    public override int Abort(nint comm, int errorCode) => abort(Handle(comm), errorCode);

    public override int CommSize(nint comm, out int size)
    {
        int value;
        int code = commSize(Handle(comm), &value);
        size = value;
        return code;
    }

    /// <inheritdoc/>
    public override int CommRank(nint comm, out int rank)
    {
        int value;
        int code = commRank(Handle(comm), &value);
        rank = value;
        return code;
    }

    /// <inheritdoc/>
    public override int CommSplit(nint comm, int color, int key, out nint newComm)
    {
        int created = CommNull;
        int code = commSplit(Handle(comm), color < 0 ? Undefined : color, key, &created);
        newComm = created == CommNull ? 0 : created;
        return code;
    }

    /// <inheritdoc/>
    public override int CommFree(nint comm)
    {
        int handle = Handle(comm);
        return commFree(&handle);
    }

    /// <inheritdoc/>
    public override int Iallgather(double* send, int count, double* receive, nint comm, out nint request)
    {
        int started;
        int code = iallgather(send, count, MpiDouble, receive, count, MpiDouble, Handle(comm), &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int IallreduceSumInPlace(double* values, int count, nint comm, out nint request)
    {
        int started;
        int code = iallreduce(InPlace, values, count, MpiDouble, OpSum, Handle(comm), &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int Ibcast(double* values, int count, int root, nint comm, out nint request)
    {
        int started;
        int code = ibcast(values, count, MpiDouble, root, Handle(comm), &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int Ibarrier(nint comm, out nint request)
    {
        int started;
        int code = ibarrier(Handle(comm), &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int Test(ref nint request, out bool completed)
    {
        int handle = Handle(request);
        int flag;
        int code = test(&handle, &flag, StatusIgnore);
        request = handle;
        completed = flag != 0;
        return code;
    }

    /// <summary>An MPICH handle, carried widened in an <see cref="nint"/>, back as the <c>int</c> the ABI takes.</summary>
    private static int Handle(nint handle) => checked((int)handle);
}
