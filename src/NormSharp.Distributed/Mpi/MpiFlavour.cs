namespace NormSharp.Distributed.Mpi;

/// <summary>
/// One MPI implementation as this library meets it: the shared library to load, the variables its launcher sets, and
/// the Debian package that installs it.
/// </summary>
/// <remarks>
/// Open MPI and MPICH differ in their C ABI (handle types and constants), not only in their file names, so the flavour
/// also chooses the binding (<see cref="OpenMpiBinding"/> or <see cref="MpichBinding"/>).
/// </remarks>
internal sealed class MpiFlavour
{
    /// <summary>Open MPI (<c>libmpi.so.40</c>, launched by <c>mpirun</c>, which sets <c>OMPI_COMM_WORLD_*</c>).</summary>
    public static readonly MpiFlavour OpenMpi = new(
        "Open MPI", "libmpi.so.40", "Open MPI's mpirun", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "openmpi-bin");

    /// <summary>MPICH (<c>libmpich.so.12</c>, launched by Hydra's <c>mpiexec</c>, which sets <c>PMI_*</c>).</summary>
    public static readonly MpiFlavour Mpich = new(
        "MPICH", "libmpich.so.12", "MPICH's mpiexec (Hydra)", "PMI_SIZE", "PMI_RANK", "mpich");

    private MpiFlavour(string name, string libraryFile, string launcher, string sizeVariable, string rankVariable, string aptPackage)
    {
        Name = name;
        LibraryFile = libraryFile;
        Launcher = launcher;
        SizeVariable = sizeVariable;
        RankVariable = rankVariable;
        AptPackage = aptPackage;
    }

    /// <summary>The implementation's name, e.g. "Open MPI".</summary>
    public string Name { get; }

    /// <summary>The file name (with its ABI version) loaded when <c>NORMSHARP_MPI_LIBRARY</c> does not name one.</summary>
    public string LibraryFile { get; }

    /// <summary>The launcher, for messages.</summary>
    public string Launcher { get; }

    /// <summary>The environment variable in which the launcher gives each process the number of processes.</summary>
    public string SizeVariable { get; }

    /// <summary>The environment variable in which the launcher gives each process its rank.</summary>
    public string RankVariable { get; }

    /// <summary>The Debian/Ubuntu package that installs the launcher and the library.</summary>
    public string AptPackage { get; }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
