using NormSharp.Serialization;

namespace NormSharp.Cli.Plotting;

/// <summary>
/// Writes a rendered plot and its CSV, each atomically (a temporary file in the target's folder, renamed over the target):
/// a failed write leaves no partial file. When the image was written but the CSV cannot be, the new image is removed
/// again, so a failing command leaves neither file behind.
/// </summary>
public static class PlotWriter
{
    /// <summary>Writes <paramref name="image"/> to the request's image path and <paramref name="csv"/> to its CSV path
    /// (when it has one).</summary>
    /// <exception cref="IOException">A file cannot be written (no such folder, a folder in the way, no permission, a full
    /// disk); the message names the file and why.</exception>
    public static void Write(PlotRequest request, byte[] image, CsvTable csv)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(csv);
        WriteOne(request.ImagePath, image);
        if (request.CsvPath is null) return;
        try
        {
            WriteOne(request.CsvPath, csv.ToBytes());
        }
        catch
        {
            File.Delete(request.ImagePath);
            throw;
        }
    }

    private static void WriteOne(string path, byte[] content)
    {
        try
        {
            if (Directory.Exists(path)) throw new IOException("it is a folder");
            AtomicFile.Write(path, content);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e switch
            {
                DirectoryNotFoundException => "no such folder",
                UnauthorizedAccessException => "permission denied",
                _ => e.Message.TrimEnd('.'),
            };
            throw new IOException($"cannot write {path}: {reason}.", e);
        }
    }
}
