using System.Diagnostics;

namespace NormSharp;

/// <summary>
/// Where NormSharp's warnings go: the .NET twin of Python's <c>warnings</c> module for this library. PyTorch warns (and
/// goes on) when an InstanceNorm without affine gets an input whose channel count differs from num_features; NormSharp
/// also warns when a state dict's running statistics are dropped on load into an InstanceNorm that does not track them.
/// </summary>
/// <remarks>
/// Each warning is raised on <see cref="Raised"/>, with the layer as sender; with no subscriber it is written with
/// <see cref="Trace.TraceWarning(string)"/>, so it reaches any configured trace listener and is otherwise silent, as .NET
/// libraries are expected to be. To turn warnings into errors (Python's <c>-W error</c>), throw from a handler.
/// <example>
/// <code>
/// NormWarnings.Raised += (sender, w) => Console.Error.WriteLine(w);   // "InstanceNorm1d: UserWarning: input's size ..."
/// </code>
/// </example>
/// </remarks>
public static class NormWarnings
{
    /// <summary>Raised for every warning, on the thread that caused it; the sender is the layer.</summary>
    public static event EventHandler<NormWarningEventArgs>? Raised;

    /// <summary>Raises a warning from <paramref name="sender"/>.</summary>
    internal static void Warn(object sender, string moduleName, string message)
    {
        var warning = new NormWarningEventArgs(moduleName, message);
        EventHandler<NormWarningEventArgs>? handlers = Raised;
        if (handlers is null) Trace.TraceWarning(warning.ToString());
        else handlers(sender, warning);
    }
}
