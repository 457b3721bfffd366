using System.Diagnostics;
using NormSharp.Serialization;

namespace NormSharp.Tests.Serialization;

/// <summary>
/// <see cref="SafeTensors.ReadFile"/> refuses paths that are not regular files before it opens them: a FIFO without a
/// writer would block open(2) forever, a device such as /dev/zero never ends, and a directory deserves better than
/// "access denied".
/// </summary>
public sealed class SpecialFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-special-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Makes a FIFO with mkfifo(1) (Linux and macOS have it).</summary>
    internal static string MakeFifo(string folder)
    {
        string path = Path.Combine(folder, "pipe.safetensors");
        using Process mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    /// <summary>Runs <paramref name="read"/> on another thread and fails (instead of hanging) if it blocks; a blocked
    /// open(2) on <paramref name="fifo"/> is released by opening the FIFO for writing.</summary>
    internal static Exception? ReadWithin(TimeSpan limit, Action read, string? fifo = null)
    {
        Task task = Task.Run(read);
        bool finished = Task.WaitAny([task], limit) == 0;
        if (!finished && fifo is not null)
        {
            using var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write);
        }

        Assert.True(finished, $"the read did not finish within {limit.TotalSeconds} s");
        return task.Exception?.InnerException;
    }

    [Fact]
    public void Directory_IsRefusedAsADirectory_NotAsAccessDenied()
    {
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadFile(folder));
        Assert.Equal("the path is a directory, not a file.", e.Message);
    }

    [Fact]
    public void FifoWithoutAWriter_IsRefusedAtOnce_WithoutBlocking()
    {
        if (!OperatingSystem.IsLinux()) return; // the type of a path is read with statx(2), on Linux
        string fifo = MakeFifo(folder);
        Exception? e = ReadWithin(TimeSpan.FromSeconds(20), () => SafeTensors.ReadFile(fifo), fifo);
        Assert.IsType<SafeTensorsException>(e);
        Assert.StartsWith("the path is a FIFO (named pipe), not a regular file", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/null")]
    public void CharacterDevice_IsRefusedBeforeItIsRead(string device)
    {
        if (!OperatingSystem.IsLinux()) return;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadFile(device));
        Assert.Equal("the path is a character device, not a regular file.", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Fact]
    public void SymbolicLinkToADevice_IsFollowedAndRefused()
    {
        if (!OperatingSystem.IsLinux()) return;
        string link = Path.Combine(folder, "zero.safetensors");
        File.CreateSymbolicLink(link, "/dev/zero");
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadFile(link));
        Assert.Equal("the path is a character device, not a regular file.", e.Message);
    }

    [Fact]
    public void RegularFile_ThroughASymbolicLink_IsRead()
    {
        string file = Path.Combine(folder, "real.safetensors");
        SafeTensors.WriteFile(file, new StateDict { ["w"] = StateTensor.FromSingles([1f, 2f], 2) });
        string link = Path.Combine(folder, "link.safetensors");
        File.CreateSymbolicLink(link, file);
        Assert.Equal([1.0, 2.0], SafeTensors.ReadFile(link).Tensors["w"].ToDoubles());
    }

    [Fact]
    public void MissingFile_AndEmptyPath_AreTheUsualExceptions()
    {
        Assert.Throws<FileNotFoundException>(() => SafeTensors.ReadFile(Path.Combine(folder, "missing.safetensors")));
        Assert.Throws<DirectoryNotFoundException>(() => SafeTensors.ReadFile(Path.Combine(folder, "no", "such.safetensors")));
        Assert.Throws<ArgumentException>(() => SafeTensors.ReadFile(""));
    }

    [Fact]
    public void EmptyAndShortRegularFiles_AreRejectedAsTooShort()
    {
        string empty = Path.Combine(folder, "empty.safetensors");
        File.WriteAllBytes(empty, []);
        Assert.Equal("the file has 0 bytes; a safetensors file starts with an 8-byte header length.",
                     Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadFile(empty)).Message);
        File.WriteAllBytes(empty, new byte[5]);
        Assert.Contains("the file has 5 bytes", Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadFile(empty)).Message, StringComparison.Ordinal);
    }
}
