using NormSharp.Distributed.MpiHelper;

// One rank of an MPI test job (tests/NormSharp.Distributed.Tests, MpiRun): runs the scenario named on the command line
// against MpiProcessGroup.World and prints "rank R/N ok SCENARIO" when every check passed. A failed check or an
// unexpected exception prints "rank R/N failed SCENARIO: ..." to stderr and exits with 1, which fails the MPI job.
// Usage: NormSharp.Distributed.MpiHelper SCENARIO [ARGS...]
if (args.Length == 0 || !Scenarios.All.TryGetValue(args[0], out Action<string[]>? scenario))
{
    Console.Error.WriteLine($"usage: NormSharp.Distributed.MpiHelper SCENARIO [ARGS...]; scenarios: {string.Join(", ", Scenarios.All.Keys)}");
    return 2;
}

try
{
    scenario(args[1..]);
    Say.Line($"{Scenarios.Label()} ok {args[0]}");
    return 0;
}
catch (Exception error)
{
    Console.Error.WriteLine($"{Scenarios.Label()} failed {args[0]}: {error}");
    Environment.ExitCode = 1;   // read at exit: a failing rank ends the job instead of finalizing
    return 1;
}
