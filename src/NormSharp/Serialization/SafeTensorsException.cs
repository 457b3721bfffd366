namespace NormSharp.Serialization;

/// <summary>
/// A safetensors file (or stream, or byte buffer) that is not valid: the one exception type the reader throws for bad
/// content, whatever the problem. The message names the problem (and the tensor, when there is one).
/// </summary>
/// <remarks>A path that names a directory, a FIFO, a device or a socket is refused with this exception too, before it is
/// opened. I/O failures (a missing file, a denied path) are the usual <see cref="IOException"/> types instead.</remarks>
public sealed class SafeTensorsException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public SafeTensorsException()
    {
    }

    /// <summary>Creates the exception with a message naming the problem.</summary>
    /// <param name="message">What is wrong with the file.</param>
    public SafeTensorsException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that revealed the problem.</summary>
    /// <param name="message">What is wrong with the file.</param>
    /// <param name="innerException">The underlying error (e.g. the JSON parser's).</param>
    public SafeTensorsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
