using System.Diagnostics;

namespace NormSharp.Distributed.Tests.Support;

/// <summary>
/// Starts an MPI job of the rank program (<c>NormSharp.Distributed.MpiHelper</c>) and collects how it ended: Open MPI's
/// <c>mpirun</c>, MPICH's <c>mpiexec</c>, or plain <c>dotnet</c> without a launcher. A job that runs past its timeout is
/// killed with its whole process tree, so no test ever hangs on a stuck rank.
/// </summary>
/// <remarks>
/// The child's environment is this process's without any launcher or NormSharp MPI variable (so the test runner's own
/// environment cannot change which world a rank sees), plus the launcher's settings, plus the test's. A missing launcher
/// fails the test with the command that installs it: nothing is skipped.
/// </remarks>
public static class MpiRun
{
    /// <summary>Long enough for a job of a few seconds on a loaded 2-core machine; a hang costs this much.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Open MPI's launcher settings for a root user on a machine without ssh or a network: run as root, more ranks than
    /// cores, no remote launch agent, the ob1 messaging layer (MPI_Init in tens of ms), shared memory and loopback only,
    /// and no terminal escape codes from .NET.
    /// </summary>
    private static readonly Dictionary<string, string> OpenMpiEnvironment = new()
    {
        ["OMPI_MCA_plm"] = "isolated",
        ["OMPI_MCA_pml"] = "ob1",
        ["OMPI_MCA_btl"] = "self,vader",
        ["OMPI_MCA_oob_tcp_if_include"] = "lo",
        ["TERM"] = "dumb",
    };

    private static readonly string[] RemovedPrefixes = ["OMPI_", "PMI_", "PMIX_", "HYDRA_", "MPIR_", "NORMSHARP_MPI_"];

    /// <summary>The rank program, copied into the test's output folder by the project reference.</summary>
    public static string HelperPath => Path.Combine(AppContext.BaseDirectory, "NormSharp.Distributed.MpiHelper.dll");

    /// <summary><c>mpirun.openmpi --allow-run-as-root --oversubscribe -np RANKS dotnet helper SCENARIO ARGS</c>.</summary>
    /// <param name="ranks">The number of processes.</param>
    /// <param name="scenario">The helper's scenario.</param>
    /// <param name="arguments">The scenario's arguments.</param>
    /// <param name="environment">Variables for every rank (e.g. <c>NORMSHARP_MPI_LIBRARY</c>).</param>
    /// <param name="timeout">Kill the job after this long.</param>
    public static MpiRunResult OpenMpi(int ranks, string scenario, string[]? arguments = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null) =>
        OpenMpiProgram(ranks, HelperPath, [scenario, .. arguments ?? []], environment, timeout);

    /// <summary><c>mpirun.openmpi --allow-run-as-root --oversubscribe -np RANKS dotnet PROGRAM ARGS</c>: any program of
    /// the test's output folder (a sample, the benchmark harness).</summary>
    /// <param name="ranks">The number of processes.</param>
    /// <param name="program">The program's dll.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="environment">Variables for every rank.</param>
    /// <param name="timeout">Kill the job after this long.</param>
    public static MpiRunResult OpenMpiProgram(int ranks, string program, string[] arguments,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        string mpirun = FindLauncher(
            ["mpirun.openmpi", "orterun"],
            "Open MPI's mpirun (mpirun.openmpi) is not on PATH: run `bash .ci/run` (which installs Open MPI) or "
            + "`apt-get install -y openmpi-bin libopenmpi-dev`.");
        string[] launcher = ["--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        return Start(mpirun, [.. launcher, Dotnet, program, .. arguments], Merge(OpenMpiEnvironment, environment), timeout);
    }

    /// <summary><c>mpiexec.mpich -n RANKS dotnet helper SCENARIO ARGS</c> (MPICH's Hydra launcher).</summary>
    /// <param name="ranks">The number of processes.</param>
    /// <param name="scenario">The helper's scenario.</param>
    /// <param name="arguments">The scenario's arguments.</param>
    /// <param name="environment">Variables for every rank.</param>
    /// <param name="timeout">Kill the job after this long.</param>
    public static MpiRunResult Mpich(int ranks, string scenario, string[]? arguments = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        string mpiexec = FindLauncher(
            ["mpiexec.mpich", "mpiexec.hydra"],
            "MPICH's mpiexec (mpiexec.mpich) is not on PATH: run `apt-get install -y mpich libmpich-dev`.");
        string[] launcher = ["-n", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        return Start(mpiexec, [.. launcher, Dotnet, HelperPath, scenario, .. arguments ?? []], Merge(new() { ["TERM"] = "dumb" }, environment), timeout);
    }

    /// <summary><c>dotnet helper SCENARIO ARGS</c> without any launcher (or with the launcher variables the test gives).</summary>
    /// <param name="scenario">The helper's scenario.</param>
    /// <param name="arguments">The scenario's arguments.</param>
    /// <param name="environment">Variables for the process.</param>
    /// <param name="timeout">Kill the process after this long.</param>
    public static MpiRunResult WithoutLauncher(string scenario, string[]? arguments = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null) =>
        Start(Dotnet, [HelperPath, scenario, .. arguments ?? []], Merge(new() { ["TERM"] = "dumb" }, environment), timeout);

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static MpiRunResult Start(string fileName, string[] arguments, Dictionary<string, string> environment, TimeSpan? timeout)
    {
        foreach (string program in arguments.Where(a => a.EndsWith(".dll", StringComparison.Ordinal)).Take(1))
            Assert.True(File.Exists(program), $"the rank program {program} is missing: build tests/NormSharp.Distributed.Tests");
        var start = new ProcessStartInfo(fileName, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string name in start.Environment.Keys.ToList())
        {
            if (RemovedPrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))) start.Environment.Remove(name);
        }

        foreach ((string name, string value) in environment) start.Environment[name] = value;

        string command = string.Join(' ', environment.Select(pair => $"{pair.Key}={pair.Value}").Append(fileName).Concat(arguments));
        var clock = Stopwatch.StartNew();
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        process.StandardInput.Close();
        Task<string> standardOutput = process.StandardOutput.ReadToEndAsync();
        Task<string> standardError = process.StandardError.ReadToEndAsync();

        bool exited = process.WaitForExit(timeout ?? DefaultTimeout);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        // A rank that escaped the kill could hold the pipes open: never wait on them for long.
        Task.WaitAll([standardOutput, standardError], TimeSpan.FromSeconds(10));
        return new MpiRunResult(
            command,
            exited ? process.ExitCode : -1,
            standardOutput.IsCompletedSuccessfully ? standardOutput.Result : "(not read)\n",
            standardError.IsCompletedSuccessfully ? standardError.Result : "(not read)\n",
            !exited,
            clock.Elapsed);
    }

    private static string FindLauncher(string[] names, string missing)
    {
        string[] folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        foreach (string name in names)
        {
            foreach (string folder in folders.Append("/usr/bin"))
            {
                string candidate = Path.Combine(folder, name);
                if (File.Exists(candidate)) return candidate;
            }
        }

        Assert.Fail(missing);
        return string.Empty;
    }

    private static Dictionary<string, string> Merge(Dictionary<string, string> launcher, IReadOnlyDictionary<string, string>? test)
    {
        var merged = new Dictionary<string, string>(launcher);
        if (test is not null)
        {
            foreach ((string name, string value) in test) merged[name] = value;
        }

        return merged;
    }
}
