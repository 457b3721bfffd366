namespace NormSharp.PyTorch;

/// <summary>
/// A torch.save file that NormSharp will not read: the one exception type <see cref="PyTorchCheckpoint"/> throws for any
/// problem with the file, whatever it is. The message names the problem (and the entry, tensor or global, when there is
/// one).
/// </summary>
/// <remarks>
/// Raised for a damaged or hostile archive (sizes that disagree with the file, a zip bomb, paths with <c>..</c>), a pickle
/// that asks for a global outside the allow-list (<c>os.system</c>, <c>builtins.eval</c>, ...) or uses an opcode a
/// weights-only load does not allow, the legacy (pre-1.6) format, a path that is not a regular file, and I/O failures
/// (with the <see cref="IOException"/> as <see cref="Exception.InnerException"/>).
/// </remarks>
public sealed class PyTorchCheckpointException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public PyTorchCheckpointException()
    {
    }

    /// <summary>Creates the exception with a message naming the problem.</summary>
    /// <param name="message">What is wrong with the file.</param>
    public PyTorchCheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that revealed the problem.</summary>
    /// <param name="message">What is wrong with the file.</param>
    /// <param name="innerException">The underlying error (an I/O error, the deflate decoder's).</param>
    public PyTorchCheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
