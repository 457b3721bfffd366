namespace NormSharp.Oracle.Tests.Reference;

/// <summary>An error the Python layer of PyTorch raises (ValueError, AttributeError), in the ported reference.</summary>
public sealed class PythonException(string type, string message) : Exception(message)
{
    /// <summary>The Python exception class, e.g. <c>ValueError</c>.</summary>
    public string Type { get; } = type;
}
