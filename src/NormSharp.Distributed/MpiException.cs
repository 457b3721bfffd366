namespace NormSharp.Distributed;

/// <summary>
/// An MPI operation of <see cref="MpiProcessGroup"/> failed: MPI returned an error code, a collective did not complete
/// within <see cref="MpiProcessGroup.Timeout"/>, or the loaded MPI library cannot serve this process. The message names
/// the MPI call, the rank and MPI's own text.
/// </summary>
/// <remarks>
/// After a timeout (<see cref="TimedOut"/>) or a failure while a request was outstanding, this process makes no further
/// MPI call: MPI cannot cancel a collective that has started, and it could still write into the caller's buffers. Every
/// later collective of every <see cref="MpiProcessGroup"/> then throws an <see cref="MpiException"/> at once, saying why.
/// </remarks>
/// <example>
/// <code>
/// try { group.AllReduceSum(gradients); }
/// catch (MpiException e) when (e.TimedOut) { Console.Error.WriteLine($"a peer is gone: {e.Message}"); throw; }
/// </code>
/// </example>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception with a generic message.</summary>
    public MpiException()
        : this("An MPI operation failed.")
    {
    }

    /// <summary>Creates the exception with a message naming the problem.</summary>
    /// <param name="message">What failed.</param>
    public MpiException(string message)
        : base(message)
    {
        Call = string.Empty;
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The underlying error.</param>
    public MpiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Call = string.Empty;
    }

    /// <summary>Creates the exception for a failed MPI call.</summary>
    /// <param name="message">The whole message (the call, the rank, MPI's text).</param>
    /// <param name="call">The MPI function, e.g. "MPI_Iallgather".</param>
    /// <param name="errorCode">MPI's error code, or null when MPI returned none.</param>
    /// <param name="errorString">MPI's text for <paramref name="errorCode"/>.</param>
    /// <param name="timedOut">Whether the call did not complete in time.</param>
    internal MpiException(string message, string call, int? errorCode = null, string? errorString = null, bool timedOut = false)
        : base(message)
    {
        Call = call;
        ErrorCode = errorCode;
        ErrorString = errorString;
        TimedOut = timedOut;
    }

    /// <summary>The MPI function that failed or did not complete, e.g. "MPI_Iallgather"; empty when none is known.</summary>
    public string Call { get; }

    /// <summary>The error code MPI returned, or null when the failure is not an MPI error code (a timeout, a library
    /// that is not the launcher's, a process that can no longer use MPI).</summary>
    public int? ErrorCode { get; }

    /// <summary>MPI's text for <see cref="ErrorCode"/> (<c>MPI_Error_string</c>), or null when there is no code.</summary>
    public string? ErrorString { get; }

    /// <summary>Whether a collective did not complete within the group's <see cref="MpiProcessGroup.Timeout"/>.</summary>
    public bool TimedOut { get; }
}
