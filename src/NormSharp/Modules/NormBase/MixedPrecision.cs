using System.Numerics.Tensors;

namespace NormSharp;

/// <summary>
/// Mixed precision for every float32 layer (BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, their lazy forms, SyncBatchNorm):
/// float16 (<see cref="Half"/>) or <see cref="BFloat16"/> input and output, float32 weight, bias, running statistics and
/// parameter gradients, as PyTorch runs a float32 module on a half-precision input (pytorch#88929; the form apex and
/// autocast training use).
/// </summary>
/// <remarks>
/// <para>Each method is the float32 layer's own call on another input type: the same decision (statistics, buffers, factor,
/// counter, checks and messages, <c>Explain</c>), the same call guard, lazy initialization (creating float32 tensors), the same
/// record for <c>Backward</c>; only the arithmetic reads and writes 16-bit values. The output is the float32 computation on
/// the input's exact float values, rounded once to the input's type: the statistics in double (PyTorch's CPU kernels
/// accumulate them in float; NormSharp's are at least as accurate), then <c>y = fma(x, alpha, beta)</c> in float, as PyTorch's
/// <c>mixed_type</c> kernel computes it, then rounded to nearest, ties to even. A <c>Backward</c> takes dy in the forward's
/// input type, returns dx in it, and adds float32 gradients into <c>Weight.Grad</c> and <c>Bias.Grad</c>.</para>
/// <para>Layers in double have no mixed-precision form (PyTorch: <c>mixed dtype (CPU): expect parameter to have scalar type of
/// Float</c>); PyTorch's fully half module (<c>module.half()</c>, float16 parameters and buffers) is not supported: use a
/// float32 layer.</para>
/// <example>
/// <code>
/// var bn = new BatchNorm2d(64);                        // float32 parameters and running statistics
/// Tensor&lt;Half&gt; y = bn.Forward(xHalf);              // xHalf: Tensor&lt;Half&gt; of shape (N, 64, H, W)
/// Tensor&lt;Half&gt; dx = bn.Backward(dyHalf);           // bn.Weight.Grad, bn.Bias.Grad: float32
/// </code>
/// </example>
/// </remarks>
public static class MixedPrecision
{
    /// <summary>The layer's forward on a float16 input: output in float16, running statistics and counter as in float32.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="input">A tensor of a rank the layer accepts, any strides.</param>
    /// <returns>A new float16 tensor of the input's shape (laid out as the float32 forward lays out its output).</returns>
    /// <exception cref="ArgumentException">A check fails (the float32 forward's checks and messages); nothing changed.</exception>
    public static Tensor<Half> Forward(this NormBase<float> layer, Tensor<Half> input) => Layer(layer).RunForward(input, null);

    /// <summary><see cref="Forward(NormBase{float}, Tensor{Half})"/> writing into <paramref name="destination"/>: no allocation in
    /// steady state.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="input">A tensor of a rank the layer accepts.</param>
    /// <param name="destination">The input's lengths, laid out as the output would be; must not share memory with the input.</param>
    /// <exception cref="ArgumentException">A check fails, or the destination does not fit; nothing changed.</exception>
    public static void Forward(this NormBase<float> layer, Tensor<Half> input, Tensor<Half> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Layer(layer).RunForward(input, destination);
    }

    /// <summary>dx for the last forward, which had a float16 input; adds the float32 parameter gradients into
    /// <c>Weight.Grad</c> and <c>Bias.Grad</c>.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="gradOutput">dy in float16, the shape of the last forward's input.</param>
    /// <returns>dx, a new float16 tensor.</returns>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException">The shape differs, or the last forward's input was not float16.</exception>
    public static Tensor<Half> Backward(this NormBase<float> layer, Tensor<Half> gradOutput) => Layer(layer).BackwardFromSaved(gradOutput, null)!;

    /// <summary><see cref="Backward(NormBase{float}, Tensor{Half})"/> writing dx into <paramref name="destination"/>.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="gradOutput">dy in float16, the shape of the last forward's input.</param>
    /// <param name="destination">Receives dx (the input's shape and the layout of the forward's output).</param>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException">A shape, layout or element type does not fit.</exception>
    public static void Backward(this NormBase<float> layer, Tensor<Half> gradOutput, Tensor<Half> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Layer(layer).BackwardFromSaved(gradOutput, destination);
    }

    /// <summary>The layer's forward on a bfloat16 input: output in bfloat16, running statistics and counter as in float32.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="input">A tensor of a rank the layer accepts, any strides.</param>
    /// <returns>A new bfloat16 tensor of the input's shape.</returns>
    /// <exception cref="ArgumentException">A check fails; nothing changed.</exception>
    public static Tensor<BFloat16> Forward(this NormBase<float> layer, Tensor<BFloat16> input) => Layer(layer).RunForward(input, null);

    /// <summary><see cref="Forward(NormBase{float}, Tensor{BFloat16})"/> writing into <paramref name="destination"/>.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="input">A tensor of a rank the layer accepts.</param>
    /// <param name="destination">The input's lengths, laid out as the output would be; must not share memory with the input.</param>
    /// <exception cref="ArgumentException">A check fails, or the destination does not fit; nothing changed.</exception>
    public static void Forward(this NormBase<float> layer, Tensor<BFloat16> input, Tensor<BFloat16> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Layer(layer).RunForward(input, destination);
    }

    /// <summary>dx for the last forward, which had a bfloat16 input; adds the float32 parameter gradients.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="gradOutput">dy in bfloat16, the shape of the last forward's input.</param>
    /// <returns>dx, a new bfloat16 tensor.</returns>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException">The shape differs, or the last forward's input was not bfloat16.</exception>
    public static Tensor<BFloat16> Backward(this NormBase<float> layer, Tensor<BFloat16> gradOutput) => Layer(layer).BackwardFromSaved(gradOutput, null)!;

    /// <summary><see cref="Backward(NormBase{float}, Tensor{BFloat16})"/> writing dx into <paramref name="destination"/>.</summary>
    /// <param name="layer">A float32 layer.</param>
    /// <param name="gradOutput">dy in bfloat16, the shape of the last forward's input.</param>
    /// <param name="destination">Receives dx.</param>
    /// <exception cref="InvalidOperationException">No forward has run yet.</exception>
    /// <exception cref="ArgumentException">A shape, layout or element type does not fit.</exception>
    public static void Backward(this NormBase<float> layer, Tensor<BFloat16> gradOutput, Tensor<BFloat16> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Layer(layer).BackwardFromSaved(gradOutput, destination);
    }

    private static NormBase<float> Layer(NormBase<float> layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return layer;
    }
}
