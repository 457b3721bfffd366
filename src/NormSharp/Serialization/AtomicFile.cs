namespace NormSharp.Serialization;

/// <summary>The points of an atomic save, in order; tests inject a failure at each one.</summary>
internal enum AtomicSaveStep
{
    TemporaryCreated,
    PartlyWritten,
    Written,
    Flushed,
    Closed,
    Renamed,
}

/// <summary>
/// Replaces a file atomically: the new content goes to a temporary file in the same folder, is flushed to the disk, and
/// the temporary file is renamed over the target (an atomic replace on one file system). At any point of failure the
/// target is either the old file or the new one, never a mix; the temporary file is removed when the failure is an
/// exception (a killed process can leave a <c>.*.tmp</c> file beside the target, never a broken target).
/// </summary>
internal static class AtomicFile
{
    /// <summary>Test hook: called at each step of a save on this thread; throwing from it simulates a failure there.</summary>
    [ThreadStatic]
    internal static Action<AtomicSaveStep>? FaultInjection;

    /// <summary>Writes <paramref name="parts"/> one after the other as the new content of <paramref name="path"/>.</summary>
    public static void Write(string path, params byte[][] parts)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string target = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(target) ?? throw new ArgumentException($"\"{path}\" has no folder.", nameof(path));
        string temporary = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Step(AtomicSaveStep.TemporaryCreated);
                for (int i = 0; i < parts.Length; i++)
                {
                    stream.Write(parts[i]);
                    if (i == 0) Step(AtomicSaveStep.PartlyWritten);
                }

                Step(AtomicSaveStep.Written);
                stream.Flush(flushToDisk: true);
                Step(AtomicSaveStep.Flushed);
            }

            Step(AtomicSaveStep.Closed);
            File.Move(temporary, target, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }

        Step(AtomicSaveStep.Renamed);
    }

    private static void Step(AtomicSaveStep step) => FaultInjection?.Invoke(step);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the target is intact either way.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }
}
