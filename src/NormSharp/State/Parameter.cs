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

    /// <summary>The accumulated gradient, or null when none has been computed since the last clear. Any tensor assigned
    /// must have <see cref="Data"/>'s shape (any strides), as PyTorch requires of <c>.grad</c>.</summary>
    /// <exception cref="ArgumentException">The tensor's shape differs from <see cref="Data"/>'s; the gradient is unchanged.</exception>
    public Tensor<T>? Grad
    {
        get => grad;
        set
        {
            if (value is not null && !value.Lengths.SequenceEqual(Data.Lengths))
                throw new ArgumentException(
                    $"assigned grad has data of a different size: the parameter has shape {Diagnostics.TorchMessages.FormatShape(Data.Lengths)}, " +
                    $"the gradient {Diagnostics.TorchMessages.FormatShape(value.Lengths)}.", nameof(value));
            grad = value;
        }
    }

    private Tensor<T>? grad;

    /// <summary>Whether backward computes a gradient for this parameter (default true).</summary>
    public bool RequiresGrad { get; set; } = true;

    /// <summary>As PyTorch prints a parameter: <c>Parameter containing:</c> and its values.</summary>
    public override string ToString() =>
        "Parameter containing:\n" + TensorText.Format(Data.Lengths, Values(), Suffix(), integral: false)[..^1] +
        (RequiresGrad ? ", requires_grad=True)" : ")");

    private double[] Values()
    {
        var flat = new T[Data.FlattenedLength];
        Data.FlattenTo(flat);
        return flat.Select(v => Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    private static string Suffix() => typeof(T) == typeof(double) ? ", dtype=torch.float64" : "";
}
