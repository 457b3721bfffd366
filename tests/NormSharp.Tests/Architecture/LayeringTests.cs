using System.Text.RegularExpressions;

using NormSharp.Tests.Support;

namespace NormSharp.Tests.Architecture;

/// <summary>
/// The tree is the architecture: modules decide, the functional layer validates, execution schedules, kernels compute, and
/// nothing calls upward. Checked on the library's source: every type is assigned to the folder that declares it, and a
/// file may name only the types its folder is allowed to depend on.
/// </summary>
public partial class LayeringTests
{
    /// <summary>For each folder under src/NormSharp, the folders whose types it must never name.
    /// Deployment (recalibration, folding) works on whole layers from above: nothing below names it.</summary>
    private static readonly Dictionary<string, string[]> Forbidden = new(StringComparer.Ordinal)
    {
        ["Modules"] = ["Deployment"],
        ["Kernels"] = ["Modules", "Functional", "Execution", "State", "Serialization", "Diagnostics", "Deployment"],
        ["Execution"] = ["Modules", "Functional", "State", "Serialization", "Deployment"],
        ["Functional"] = ["Modules", "Serialization", "Deployment"],
        ["State"] = ["Modules", "Functional", "Execution", "Kernels", "Serialization", "Deployment"],
        ["Serialization"] = ["Modules", "Functional", "Execution", "Kernels", "Deployment"],
        ["Tensors"] = ["Modules", "Functional", "State", "Serialization", "Kernels", "Deployment"],
        ["Diagnostics"] = ["Modules", "Functional", "Execution", "Kernels", "Serialization", "State", "Deployment"],
    };

    [Fact]
    public void NoFolder_NamesATypeOfAFolderAboveIt()
    {
        string root = Path.Combine(RepositoryPaths.Root, "src", "NormSharp");
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
                             .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                                         && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                             .Select(f => (Folder: FolderOf(root, f), Path: f, Code: CodeOnly(File.ReadAllText(f))))
                             .ToList();
        Assert.All(files, f => Assert.True(f.Folder != "", $"{f.Path} lies at the library's root: every file belongs in a layer's folder."));

        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (folder, _, code) in files)
            foreach (Match declaration in Declaration().Matches(code))
                owner[declaration.Groups["name"].Value] = folder;

        var violations = new List<string>();
        foreach (var (folder, path, code) in files)
        {
            if (!Forbidden.TryGetValue(folder, out string[]? forbidden)) continue;
            var methods = MethodName().Matches(code).Select(m => m.Index).ToHashSet();
            foreach (string name in Identifier().Matches(code).Where(m => !methods.Contains(m.Index)).Select(m => m.Value).Distinct())
                if (owner.TryGetValue(name, out string? other) && forbidden.Contains(other))
                    violations.Add($"{Path.GetRelativePath(root, path)} ({folder}) names {name} ({other})");
        }

        Assert.True(violations.Count == 0, "layering violations:\n" + string.Join("\n", violations));
        Assert.True(owner.Count > 40, $"only {owner.Count} types found: the scan is broken");
    }

    [Fact]
    public void Kernels_AreStaticSpanFunctions_WithoutStateOrAllocation()
    {
        string kernels = Path.Combine(RepositoryPaths.Root, "src", "NormSharp", "Kernels");
        foreach (string file in Directory.EnumerateFiles(kernels, "*.cs"))
        {
            string code = CodeOnly(File.ReadAllText(file));
            Assert.DoesNotMatch(@"\bnew\s+\w+(<[^>]*>)?\s*\[", code);   // no arrays
            Assert.DoesNotMatch(@"\[ThreadStatic\]|\bstatic\s+(?!readonly)\w+(<[^>]*>)?\s+\w+\s*(=(?!>)|;)", code); // no mutable static state
            Assert.DoesNotMatch(@"\bthrow\b", code);
        }
    }

    private static string FolderOf(string root, string file)
    {
        string relative = Path.GetRelativePath(root, file);
        int separator = relative.IndexOf(Path.DirectorySeparatorChar, StringComparison.Ordinal);
        return separator < 0 ? "" : relative[..separator];
    }

    /// <summary>The source without comments, string and character literals (so XML docs and messages do not count).</summary>
    private static string CodeOnly(string source) => NonCode().Replace(source, m => m.Value.StartsWith('/') ? " " : "\"\"");


    [GeneratedRegex(@"\b(?:class|struct|interface|enum|record(?:\s+struct|\s+class)?)\s+(?<name>[A-Z]\w*)")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"\b[A-Z]\w*\b")]
    private static partial Regex Identifier();

    /// <summary>A method's name where it is declared or called (followed by its arguments, not after <c>new</c>): not a type.</summary>
    [GeneratedRegex(@"(?<!\bnew\s+)\b[A-Z]\w*(?=(?:<[^<>()]*>)?\s*\()")]
    private static partial Regex MethodName();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|\$?""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)'", RegexOptions.Singleline)]
    private static partial Regex NonCode();
}
