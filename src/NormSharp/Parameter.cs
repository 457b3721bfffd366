using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// A learnable tensor with its accumulated gradient, the twin of <c>torch.nn.Parameter</c>.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
/// <remarks>
/// <see cref="Data"/> is the live tensor a module reads at every forward: writing into it changes
/// what the next forward uses. <see cref="Grad"/> starts null and accumulates (adds) across backward
/// calls until it is cleared, like PyTorch's <c>.grad</c>.
/// </remarks>
public sealed class Parameter<T>
{
    /// <summary>Wraps <paramref name="data"/> (not a copy).</summary>
    public Parameter(Tensor<T> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Data = data;
    }

    /// <summary>The values, shape (C) for normalization layers.</summary>
    public Tensor<T> Data { get; }

    /// <summary>The accumulated gradient, or null when none has been computed since the last clear.</summary>
    public Tensor<T>? Grad { get; set; }

    /// <summary>Whether backward computes a gradient for this parameter (default true).</summary>
    public bool RequiresGrad { get; set; } = true;
}
