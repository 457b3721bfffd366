using NormSharp.Distributed.Mpi;
using NormSharp.Distributed.Tests.Support;

namespace NormSharp.Distributed.Tests.ProcessGroups;

/// <summary>Which MPI library a launched process loads, and the errors when it cannot load the right one.</summary>
[Collection(MpiJobs.Name)]
public class LibraryLoadingTests
{
    [Theory]
    [InlineData("OMPI_COMM_WORLD", "openmpi-bin")]
    [InlineData("PMI", "mpich")]
    public void MissingLibrary_ThrowsNamingTheFileAndTheAptPackage(string launcherPrefix, string package)
    {
        const string missing = "/nonexistent/libmpi.so.40";
        string sizeVariable = launcherPrefix + "_SIZE", rankVariable = launcherPrefix + "_RANK";
        MpiRunResult run = MpiRun.WithoutLauncher(
            "library",
            [missing, package],
            new Dictionary<string, string> { [sizeVariable] = "1", [rankVariable] = "0", ["NORMSHARP_MPI_LIBRARY"] = missing });
        run.AssertSucceeded(1, "library");
    }

    [Fact]
    public void MpichLibrary_UnderOpenMpisLauncher_IsRejectedAsNotTheLaunchersMpi()
    {
        MpiRunResult job = MpiRun.OpenMpi(2, "wrong-library", environment: new Dictionary<string, string> { ["NORMSHARP_MPI_LIBRARY"] = "libmpich.so.12" });
        job.AssertSucceeded(2, "wrong-library");
        Assert.Matches(@"'libmpich\.so\.12' \(MPICH [\d.]+\) sees 1 process\(es\) in MPI_COMM_WORLD, but Open MPI's mpirun \(OMPI_COMM_WORLD_SIZE=2\) started 2", job.StandardOutput);
    }

    [Fact]
    public void OpenMpiLibrary_UnderMpichsLauncher_IsRejectedAsNotTheLaunchersMpi()
    {
        MpiRunResult job = MpiRun.Mpich(2, "wrong-library", environment: new Dictionary<string, string> { ["NORMSHARP_MPI_LIBRARY"] = "libmpi.so.40" });
        job.AssertSucceeded(2, "wrong-library");
        Assert.Matches(@"'libmpi\.so\.40' \(Open MPI [\d.]+\) sees 1 process\(es\) in MPI_COMM_WORLD, but MPICH's mpiexec \(Hydra\) \(PMI_SIZE=2\) started 2", job.StandardOutput);
    }

    [Theory]
    [InlineData("Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022", "Open MPI 4.1.4")]
    [InlineData("MPICH Version:\t4.0.2\nMPICH Release date:\tThu Apr  7 12:34:45 CDT 2022\nMPICH ABI:\t14:2:2\n", "MPICH 4.0.2")]
    [InlineData("Intel(R) MPI Library 2021.6 for Linux* OS\n", "Intel(R) MPI Library 2021.6 for Linux* OS")]
    public void ShortName_OfTheLibraryVersionText_IsTheImplementationAndVersion(string version, string expected) =>
        Assert.Equal(expected, MpiLibrary.ShortName(version));
}
