namespace NormSharp.Tests.Support;

/// <summary>
/// Locates files of the repository from the test's output folder. Source-file paths recorded at compile time
/// (<c>CallerFilePath</c>) are not used: deterministic CI builds map them to <c>/_/</c>, which exists nowhere.
/// </summary>
internal static class RepositoryPaths
{
    /// <summary>The folder holding <c>NormSharp.slnx</c>, found by walking up from the test assembly's folder.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A path below the repository root.</summary>
    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "NormSharp.slnx"))) directory = Path.GetDirectoryName(directory);
        return directory ?? throw new InvalidOperationException("NormSharp.slnx not found above the test's folder.");
    }
}
