namespace NormSharp.Distributed.Tests.Support;

/// <summary>The tests that start MPI jobs: one at a time, since each job's ranks busy-poll the machine's cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MpiJobs
{
    /// <summary>The collection's name, for <see cref="CollectionAttribute"/>.</summary>
    public const string Name = "MPI jobs";
}
