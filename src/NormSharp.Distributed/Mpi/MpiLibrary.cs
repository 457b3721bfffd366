using System.Runtime.InteropServices;

namespace NormSharp.Distributed.Mpi;

/// <summary>
/// Finds, loads and binds the system's MPI library: the launcher's implementation by default (<c>libmpi.so.40</c> under
/// Open MPI's <c>mpirun</c>, <c>libmpich.so.12</c> under MPICH's <c>mpiexec</c>), or the file named by
/// <c>NORMSHARP_MPI_LIBRARY</c>; the ABI is then chosen from what the loaded file exports, not from its name.
/// </summary>
internal static unsafe class MpiLibrary
{
    /// <summary>The environment variable that names the MPI library to load (a path, or a file name the loader finds).</summary>
    public const string LibraryVariable = "NORMSHARP_MPI_LIBRARY";

    /// <summary>Loads the MPI library for <paramref name="launch"/> and binds it with its flavour's ABI.</summary>
    /// <exception cref="DllNotFoundException">The library cannot be loaded; the message names the file and the package to install.</exception>
    /// <exception cref="MpiException">The file is neither Open MPI nor an MPICH-ABI library.</exception>
    public static MpiBinding Load(MpiLaunch launch)
    {
        string? named = Environment.GetEnvironmentVariable(LibraryVariable);
        bool isOverride = !string.IsNullOrWhiteSpace(named);
        string file = isOverride ? named!.Trim() : launch.Flavour.LibraryFile;

        nint library;
        try
        {
            library = NativeLibrary.Load(file);
        }
        catch (DllNotFoundException error)
        {
            string why = isOverride
                ? $"named by {LibraryVariable}"
                : $"{launch.Flavour.Name}'s library, chosen because {launch.Flavour.SizeVariable} says {launch.Flavour.Launcher} started this process";
            throw new DllNotFoundException(
                $"NormSharp.Distributed could not load the MPI library '{file}' ({why}). Install {launch.Flavour.Name} "
                + $"(Debian/Ubuntu: apt-get install {launch.Flavour.AptPackage}), or set {LibraryVariable} to the path of "
                + $"the launcher's MPI library. The loader said: {error.Message}",
                error);
        }

        // Open MPI's predefined handles are exported objects; the MPICH ABI has none, so its version text decides.
        if (NativeLibrary.TryGetExport(library, "ompi_mpi_comm_world", out _)) return new OpenMpiBinding(file, library);
        if (NativeLibrary.TryGetExport(library, "MPI_Get_library_version", out nint getVersion))
        {
            // MPICH's MPI_MAX_LIBRARY_VERSION_STRING (8192) is the larger of the two.
            string version = MpiBinding.LibraryVersion((delegate* unmanaged<byte*, int*, int>)getVersion, 8192);
            if (IsMpichAbi(version)) return new MpichBinding(file, library);
            throw new MpiException(
                $"The MPI library '{file}' is neither Open MPI nor an MPICH-ABI implementation (MPICH, Intel MPI, MVAPICH); "
                + $"it says: {FirstLine(version)}",
                "MPI_Get_library_version");
        }

        throw new MpiException($"'{file}' is not an MPI-3 library: it does not export MPI_Get_library_version.", "MPI_Get_library_version");
    }

    /// <summary>"Open MPI 4.1.4" or "MPICH 4.0.2" from the implementation's version text; its first line otherwise.</summary>
    /// <param name="version">The text of <c>MPI_Get_library_version</c>: "Open MPI v4.1.4, package: ...", or
    /// "MPICH Version:\t4.0.2\nMPICH Release date: ...".</param>
    public static string ShortName(string version)
    {
        const string openMpi = "Open MPI v", mpich = "MPICH Version:";
        if (version.StartsWith(openMpi, StringComparison.Ordinal))
        {
            string number = version[openMpi.Length..].Split(',', ' ', '\n')[0];
            return $"Open MPI {number}";
        }

        if (version.StartsWith(mpich, StringComparison.Ordinal))
        {
            string number = version[mpich.Length..].TrimStart(' ', '\t').Split('\n', ' ', '\t')[0];
            return $"MPICH {number}";
        }

        return FirstLine(version);
    }

    private static bool IsMpichAbi(string version) =>
        version.Contains("MPICH", StringComparison.Ordinal) || version.Contains("MVAPICH", StringComparison.Ordinal)
        || version.Contains("Intel(R) MPI", StringComparison.Ordinal);

    private static string FirstLine(string text)
    {
        string line = text.Split('\n')[0].Trim();
        return line.Length == 0 ? "(no version text)" : line;
    }
}
