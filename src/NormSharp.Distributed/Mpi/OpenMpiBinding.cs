namespace NormSharp.Distributed.Mpi;

/// <summary>
/// Open MPI's C ABI (checked against Open MPI 4.1.4's <c>/usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h</c>; Open MPI 5
/// keeps it): every handle type (<c>MPI_Comm</c>, <c>MPI_Datatype</c>, <c>MPI_Op</c>, <c>MPI_Errhandler</c>,
/// <c>MPI_Request</c>) is a pointer, and each predefined handle is the address of an exported object.
/// </summary>
/// <remarks>
/// mpi.h: <c>#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)</c>, where
/// <c>OMPI_PREDEFINED_GLOBAL(type, global)</c> is <c>((type) ((void *) &amp;(global)))</c>; likewise <c>MPI_DOUBLE</c>
/// (<c>ompi_mpi_double</c>), <c>MPI_SUM</c> (<c>ompi_mpi_op_sum</c>), <c>MPI_ERRORS_RETURN</c>
/// (<c>ompi_mpi_errors_return</c>) and <c>MPI_COMM_NULL</c> (<c>ompi_mpi_comm_null</c>).
/// <c>MPI_IN_PLACE</c> is <c>((void *) 1)</c> and <c>MPI_STATUS_IGNORE</c> is <c>((MPI_Status *) 0)</c>.
/// </remarks>
internal sealed unsafe class OpenMpiBinding : MpiBinding
{
    /// <summary>mpi.h: <c>#define MPI_IN_PLACE ((void *) 1)</c>.</summary>
    private static readonly void* InPlace = (void*)1;

    /// <summary>mpi.h: <c>#define MPI_STATUS_IGNORE ((MPI_Status *) 0)</c>.</summary>
    private static readonly void* StatusIgnore = null;

    private readonly nint commWorld, commNull, mpiDouble, opSum, errorsReturn;

    private readonly delegate* unmanaged<nint, nint, int> commSetErrhandler;
    private readonly delegate* unmanaged<nint, int*, int> commSize;
    private readonly delegate* unmanaged<nint, int, int> abort;
    private readonly delegate* unmanaged<nint, int*, int> commRank;
    private readonly delegate* unmanaged<nint, int, int, nint*, int> commSplit;
    private readonly delegate* unmanaged<nint*, int> commFree;
    private readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, nint*, int> iallgather;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> iallreduce;
    private readonly delegate* unmanaged<void*, int, nint, int, nint, nint*, int> ibcast;
    private readonly delegate* unmanaged<nint, nint*, int> ibarrier;
    private readonly delegate* unmanaged<nint*, int*, void*, int> test;

    /// <summary>Binds Open MPI's <paramref name="library"/>, loaded from <paramref name="path"/>.</summary>
    public OpenMpiBinding(string path, nint library)
        : base(MpiFlavour.OpenMpi, path, library)
    {
        commWorld = (nint)Export("ompi_mpi_comm_world");
        commNull = (nint)Export("ompi_mpi_comm_null");
        mpiDouble = (nint)Export("ompi_mpi_double");
        opSum = (nint)Export("ompi_mpi_op_sum");
        errorsReturn = (nint)Export("ompi_mpi_errors_return");

        // int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)
        commSetErrhandler = (delegate* unmanaged<nint, nint, int>)Export("MPI_Comm_set_errhandler");
        // int MPI_Comm_size(MPI_Comm comm, int *size); int MPI_Comm_rank(MPI_Comm comm, int *rank)
        commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        // int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
        commSplit = (delegate* unmanaged<nint, int, int, nint*, int>)Export("MPI_Comm_split");
        // int MPI_Comm_free(MPI_Comm *comm)
        commFree = (delegate* unmanaged<nint*, int>)Export("MPI_Comm_free");
        // int MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
        //                    MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
        iallgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, nint*, int>)Export("MPI_Iallgather");
        // int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
        //                    MPI_Comm comm, MPI_Request *request)
        iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)Export("MPI_Iallreduce");
        // int MPI_Ibcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm, MPI_Request *request)
        ibcast = (delegate* unmanaged<void*, int, nint, int, nint, nint*, int>)Export("MPI_Ibcast");
        // int MPI_Ibarrier(MPI_Comm comm, MPI_Request *request)
        ibarrier = (delegate* unmanaged<nint, nint*, int>)Export("MPI_Ibarrier");
        // int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
        test = (delegate* unmanaged<nint*, int*, void*, int>)Export("MPI_Test");
    }

    /// <inheritdoc/>
    public override nint CommWorld => commWorld;

    /// <summary>mpi.h: <c>#define MPI_MAX_ERROR_STRING OPAL_MAX_ERROR_STRING</c>, which is 256.</summary>
    protected override int MaxErrorString => 256;

    /// <summary>mpi.h: <c>#define MPI_MAX_LIBRARY_VERSION_STRING 256</c>.</summary>
    protected override int MaxLibraryVersionString => 256;

    /// <inheritdoc/>
    public override int SetErrorsReturn(nint comm) => commSetErrhandler(comm, errorsReturn);

    /// <inheritdoc/>
    public override int Abort(nint comm, int errorCode) => abort(comm, errorCode);

    public override int CommSize(nint comm, out int size)
    {
        int value;
        int code = commSize(comm, &value);
        size = value;
        return code;
    }

    /// <inheritdoc/>
    public override int CommRank(nint comm, out int rank)
    {
        int value;
        int code = commRank(comm, &value);
        rank = value;
        return code;
    }

    /// <inheritdoc/>
    public override int CommSplit(nint comm, int color, int key, out nint newComm)
    {
        nint created = commNull;
        int code = commSplit(comm, color < 0 ? Undefined : color, key, &created);
        newComm = created == commNull ? 0 : created;
        return code;
    }

    /// <inheritdoc/>
    public override int CommFree(nint comm) => commFree(&comm);

    /// <inheritdoc/>
    public override int Iallgather(double* send, int count, double* receive, nint comm, out nint request)
    {
        nint started;
        int code = iallgather(send, count, mpiDouble, receive, count, mpiDouble, comm, &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int IallreduceSumInPlace(double* values, int count, nint comm, out nint request)
    {
        nint started;
        int code = iallreduce(InPlace, values, count, mpiDouble, opSum, comm, &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int Ibcast(double* values, int count, int root, nint comm, out nint request)
    {
        nint started;
        int code = ibcast(values, count, mpiDouble, root, comm, &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int Ibarrier(nint comm, out nint request)
    {
        nint started;
        int code = ibarrier(comm, &started);
        request = started;
        return code;
    }

    /// <inheritdoc/>
    public override int Test(ref nint request, out bool completed)
    {
        nint handle = request;
        int flag;
        int code = test(&handle, &flag, StatusIgnore);
        request = handle;
        completed = flag != 0;
        return code;
    }
}
