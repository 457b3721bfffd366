using System.Globalization;

namespace NormSharp.Distributed.Mpi;

/// <summary>
/// What the launcher (<c>mpirun</c>, <c>mpiexec</c>) told this process through its environment: which MPI started it,
/// how many processes it started and which one this is. Absent when the process was started without a launcher.
/// </summary>
/// <param name="Flavour">The MPI whose launcher started the process.</param>
/// <param name="Size">The number of processes the launcher started.</param>
/// <param name="Rank">This process's rank among them.</param>
internal sealed record MpiLaunch(MpiFlavour Flavour, int Size, int Rank)
{
    /// <summary>The launch described by this process's environment, or null when no MPI launcher started it.</summary>
    /// <exception cref="InvalidOperationException">A launcher variable is set but is not a valid size or rank.</exception>
    public static MpiLaunch? FromEnvironment()
    {
        foreach (MpiFlavour flavour in new[] { MpiFlavour.OpenMpi, MpiFlavour.Mpich })
        {
            string? size = Environment.GetEnvironmentVariable(flavour.SizeVariable);
            string? rank = Environment.GetEnvironmentVariable(flavour.RankVariable);
            if (size is null && rank is null) continue;

            int parsedSize = Parse(flavour.SizeVariable, size, minimum: 1);
            int parsedRank = Parse(flavour.RankVariable, rank, minimum: 0);
            if (parsedRank >= parsedSize)
            {
                throw new InvalidOperationException(
                    $"{flavour.RankVariable}={parsedRank} is not below {flavour.SizeVariable}={parsedSize}: the MPI launcher's environment is inconsistent.");
            }

            return new MpiLaunch(flavour, parsedSize, parsedRank);
        }

        return null;
    }

    /// <summary>"Open MPI's mpirun (OMPI_COMM_WORLD_SIZE=2)", for messages.</summary>
    public override string ToString() => $"{Flavour.Launcher} ({Flavour.SizeVariable}={Size})";

    private static int Parse(string variable, string? value, int minimum)
    {
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed >= minimum) return parsed;
        throw new InvalidOperationException(
            $"The environment variable {variable} is '{value ?? "(not set)"}', not an integer of at least {minimum}: "
            + "the process looks started by an MPI launcher, but the launcher's environment is incomplete.");
    }
}
