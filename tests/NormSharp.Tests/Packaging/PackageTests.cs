using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using Xunit.Abstractions;

using NormSharp.Tests.Support;

namespace NormSharp.Tests.Packaging;

/// <summary>
/// The packages a .NET developer installs: <c>dotnet pack</c> produces the library, SyncBatchNorm's package and the CLI tool with their metadata,
/// licence, README, XML docs and symbols, and the tool installs from a local folder and runs.
/// </summary>
public class PackageTests(ITestOutputHelper output)
{
    [Fact]
    public void PackedLibraryAndTool_HaveTheirMetadata_AndTheToolInstallsAndRuns()
    {
        string root = RepositoryPaths.Root;
        string work = Path.Combine(Path.GetTempPath(), "normsharp-pack-" + Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(work, "feed"), tools = Path.Combine(work, "tools");
        try
        {
            foreach (string project in new[] { "src/NormSharp/NormSharp.csproj", "src/NormSharp.Cli/NormSharp.Cli.csproj", "src/NormSharp.Distributed/NormSharp.Distributed.csproj" })
                Run("dotnet", $"pack \"{Path.Combine(root, project)}\" -c Release -o \"{feed}\" --nologo -p:CI=true", root);

            string version = XDocument.Load(Path.Combine(root, "Directory.Build.props")).Descendants("Version").First().Value;
            AssertPackage(Path.Combine(feed, $"NormSharp.{version}.nupkg"), "NormSharp", ["lib/net10.0/NormSharp.dll", "lib/net10.0/NormSharp.xml"]);
            AssertPackage(Path.Combine(feed, $"NormSharp.Tool.{version}.nupkg"), "NormSharp.Tool",
                          ["tools/net10.0/any/NormSharp.Cli.dll", "tools/net10.0/any/NormSharp.dll", "tools/net10.0/any/DotnetToolSettings.xml"]);
            Assert.True(File.Exists(Path.Combine(feed, $"NormSharp.{version}.snupkg")), "no symbol package for the library");
            AssertPackage(Path.Combine(feed, $"NormSharp.Distributed.{version}.nupkg"), "NormSharp.Distributed",
                          ["lib/net10.0/NormSharp.Distributed.dll", "lib/net10.0/NormSharp.Distributed.xml"]);

            Run("dotnet", $"tool install --tool-path \"{tools}\" --add-source \"{feed}\" NormSharp.Tool --version {version}", work);
            string explain = Run(Path.Combine(tools, OperatingSystem.IsWindows() ? "normsharp.exe" : "normsharp"), "explain", work);
            Assert.Contains("BatchNorm1d: what each combination does", explain, StringComparison.Ordinal);
            Assert.Contains("| eval  | false", explain, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private static void AssertPackage(string path, string id, string[] files)
    {
        Assert.True(File.Exists(path), $"{path} was not produced");
        using ZipArchive zip = ZipFile.OpenRead(path);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        foreach (string file in files.Append("README.md").Append("LICENSE"))
            Assert.True(names.Contains(file), $"{id}: {file} missing; the package holds {string.Join(", ", names)}");

        using Stream nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
        XElement metadata = XDocument.Load(nuspec).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value ?? "";
        Assert.Equal(id, Field("id"));
        Assert.Equal("MIT", Field("license"));
        Assert.Equal("README.md", Field("readme"));
        Assert.Contains("batchnorm", Field("tags"), StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(Field("description")));
        Assert.False(string.IsNullOrWhiteSpace(Field("authors")));
        Assert.False(string.IsNullOrWhiteSpace(Field("projectUrl")));
        Assert.NotNull(metadata.Elements().SingleOrDefault(e => e.Name.LocalName == "repository"));
    }

    private string Run(string fileName, string arguments, string directory)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{fileName} {arguments} did not finish in 5 minutes");
        }

        output.WriteLine($"$ {fileName} {arguments}\n{stdout.Result}{stderr.Result}");
        Assert.True(process.ExitCode == 0, $"{fileName} {arguments} exited with {process.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

}
