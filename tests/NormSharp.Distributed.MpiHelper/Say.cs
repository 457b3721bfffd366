using System.Text;

namespace NormSharp.Distributed.MpiHelper;

/// <summary>
/// Writes a whole line to standard output in one write call. The ranks of a job share the launcher's output pipe, and a
/// line written in pieces (Console.WriteLine flushes in buffer-sized chunks) can be interleaved with another rank's; one
/// write of less than the pipe's atomic size (4096 bytes on Linux) arrives whole.
/// </summary>
internal static class Say
{
    private static readonly Stream Output = Console.OpenStandardOutput();
    private static readonly object Gate = new();

    /// <summary>Writes <paramref name="line"/> and a newline in one write.</summary>
    public static void Line(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line + "\n");
        lock (Gate)
        {
            Console.Out.Flush();
            Output.Write(bytes);
            Output.Flush();
        }
    }
}
