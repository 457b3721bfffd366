namespace NormSharp;

/// <summary>
/// Plain reference loops in double for a fold's check only (<see cref="FoldCheck"/>): a linear layer, a convolution and a
/// transposed convolution of any dimension, stride 1, no padding, no dilation. Arrays are row-major.
/// </summary>
internal static class ReferenceLayers
{
    /// <summary><c>y[n, o] = b[o] + Σ_i W[o, i]·x[n, i]</c>; x is (batch, in), W is (out, in).</summary>
    public static double[] Linear(double[] x, int batch, double[] weight, int outputs, double[]? bias)
    {
        int inputs = weight.Length / Math.Max(outputs, 1);
        var y = new double[batch * outputs];
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < outputs; o++)
            {
                double sum = bias?[o] ?? 0;
                for (int i = 0; i < inputs; i++) sum += weight[o * inputs + i] * x[n * inputs + i];
                y[n * outputs + o] = sum;
            }

        return y;
    }

    /// <summary>
    /// One sample, <c>y[o, p] = b[o] + Σ_{j &lt; in/groups} Σ_k W[o, j, k]·x[g·in/groups + j, p + k]</c> with g = o / (out/groups);
    /// x is (in, spatial...), W is (out, in/groups, kernel...); y is (out, spatial - kernel + 1).
    /// </summary>
    public static double[] Convolution(double[] x, int[] spatial, double[] weight, int[] weightShape, int groups, double[]? bias)
    {
        int outputs = weightShape[0], groupInputs = weightShape[1], groupOutputs = outputs / groups;
        int[] kernel = weightShape[2..], outSpatial = spatial.Select((s, d) => s - kernel[d] + 1).ToArray();
        int inPlane = Product(spatial), outPlane = Product(outSpatial), kernelSize = Product(kernel);
        var y = new double[outputs * outPlane];
        for (int o = 0; o < outputs; o++)
            for (int p = 0; p < outPlane; p++)
            {
                double sum = bias?[o] ?? 0;
                for (int j = 0; j < groupInputs; j++)
                {
                    int channel = o / groupOutputs * groupInputs + j;
                    for (int k = 0; k < kernelSize; k++)
                        sum += weight[(o * groupInputs + j) * kernelSize + k] * x[channel * inPlane + Offset(p, outSpatial, k, kernel, spatial)];
                }

                y[o * outPlane + p] = sum;
            }

        return y;
    }

    /// <summary>
    /// One sample, <c>y[g·out/groups + j, p + k] += W[i, j, k]·x[i, p]</c> for every input channel i of group g, plus b;
    /// x is (in, spatial...), W is (in, out/groups, kernel...); y is (out, spatial + kernel - 1).
    /// </summary>
    public static double[] TransposedConvolution(double[] x, int[] spatial, double[] weight, int[] weightShape, int groups, double[]? bias)
    {
        int inputs = weightShape[0], groupOutputs = weightShape[1], groupInputs = inputs / groups, outputs = groupOutputs * groups;
        int[] kernel = weightShape[2..], outSpatial = spatial.Select((s, d) => s + kernel[d] - 1).ToArray();
        int inPlane = Product(spatial), outPlane = Product(outSpatial), kernelSize = Product(kernel);
        var y = new double[outputs * outPlane];
        for (int o = 0; o < outputs; o++)
            for (int p = 0; p < outPlane; p++) y[o * outPlane + p] = bias?[o] ?? 0;
        for (int i = 0; i < inputs; i++)
            for (int j = 0; j < groupOutputs; j++)
            {
                int o = i / groupInputs * groupOutputs + j;
                for (int p = 0; p < inPlane; p++)
                    for (int k = 0; k < kernelSize; k++)
                        y[o * outPlane + Offset(p, spatial, k, kernel, outSpatial)] += weight[(i * groupOutputs + j) * kernelSize + k] * x[i * inPlane + p];
            }

        return y;
    }

    /// <summary>The row-major offset in a grid of <paramref name="target"/> sizes of position p (in a grid of
    /// <paramref name="positions"/> sizes) moved by kernel offset k (in a grid of <paramref name="kernel"/> sizes).</summary>
    private static int Offset(int p, int[] positions, int k, int[] kernel, int[] target)
    {
        int offset = 0;
        for (int d = 0, pRest = p, kRest = k, pStride = Product(positions), kStride = Product(kernel); d < target.Length; d++)
        {
            pStride /= positions[d];
            kStride /= kernel[d];
            offset = offset * target[d] + pRest / pStride + kRest / kStride;
            pRest %= pStride;
            kRest %= kStride;
        }

        return offset;
    }

    private static int Product(int[] sizes)
    {
        int product = 1;
        foreach (int size in sizes) product *= size;
        return product;
    }
}
