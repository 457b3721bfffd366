namespace NormSharp;

/// <summary>A warning where PyTorch emits a Python <c>UserWarning</c> and carries on.</summary>
/// <param name="moduleName">The PyTorch class name of the layer that warned, e.g. <c>InstanceNorm2d</c>.</param>
/// <param name="message">PyTorch's warning text (or NormSharp's, where PyTorch raises instead).</param>
public sealed class NormWarningEventArgs(string moduleName, string message) : EventArgs
{
    /// <summary>The PyTorch class name of the layer that warned.</summary>
    public string ModuleName { get; } = moduleName;

    /// <summary>The warning text.</summary>
    public string Message { get; } = message;

    /// <inheritdoc/>
    public override string ToString() => $"{ModuleName}: UserWarning: {Message}";
}
