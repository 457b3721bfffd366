namespace NormSharp.Tests.Reference;

/// <summary>A tensor in the tests' reference code: row-major values and their shape.</summary>
public sealed record DenseArray(double[] Values, int[] Shape)
{
    public int Offset(params int[] index)
    {
        int offset = 0;
        for (int d = 0; d < Shape.Length; d++) offset = offset * Shape[d] + index[d];
        return offset;
    }
}

/// <summary>
/// PyTorch's linear layer, convolution and transposed convolution (any dimension, groups, stride, padding), written from
/// their definitions for the folding tests and independent of the library's check: the convolution gathers over its
/// receptive field, the transposed convolution scatters each input value over its output window. Checked against PyTorch's
/// own outputs (Deployment/Fixtures/fold_expected.json).
/// </summary>
public static class NaiveConvolution
{
    /// <summary>nn.Linear: x (N, in), weight (out, in).</summary>
    public static DenseArray Linear(DenseArray x, DenseArray weight, double[]? bias)
    {
        int n = x.Shape[0], inputs = x.Shape[1], outputs = weight.Shape[0];
        var y = new DenseArray(new double[n * outputs], [n, outputs]);
        for (int s = 0; s < n; s++)
            for (int o = 0; o < outputs; o++)
            {
                double sum = bias?[o] ?? 0;
                for (int i = 0; i < inputs; i++) sum += x.Values[x.Offset(s, i)] * weight.Values[weight.Offset(o, i)];
                y.Values[y.Offset(s, o)] = sum;
            }

        return y;
    }

    /// <summary>nn.ConvNd: x (N, in, S...), weight (out, in/groups, K...); output size (S + 2p - K) / stride + 1.</summary>
    public static DenseArray Convolution(DenseArray x, DenseArray weight, double[]? bias, int groups, int stride, int padding)
    {
        int n = x.Shape[0], outputs = weight.Shape[0], groupInputs = weight.Shape[1], groupOutputs = outputs / groups;
        int[] spatial = x.Shape[2..], kernel = weight.Shape[2..];
        int[] outSpatial = spatial.Select((s, d) => (s + 2 * padding - kernel[d]) / stride + 1).ToArray();
        var y = new DenseArray(new double[n * outputs * outSpatial.Aggregate(1, (a, b) => a * b)], [n, outputs, .. outSpatial]);
        foreach (int[] position in Grid(outSpatial))
            for (int s = 0; s < n; s++)
                for (int o = 0; o < outputs; o++)
                {
                    double sum = bias?[o] ?? 0;
                    for (int j = 0; j < groupInputs; j++)
                        foreach (int[] k in Grid(kernel))
                        {
                            int[] at = position.Select((p, d) => p * stride - padding + k[d]).ToArray();
                            if (at.Where((a, d) => a < 0 || a >= spatial[d]).Any()) continue;
                            int channel = o / groupOutputs * groupInputs + j;
                            sum += weight.Values[weight.Offset([o, j, .. k])] * x.Values[x.Offset([s, channel, .. at])];
                        }

                    y.Values[y.Offset([s, o, .. position])] = sum;
                }

        return y;
    }

    /// <summary>nn.ConvTransposeNd: x (N, in, S...), weight (in, out/groups, K...); output size (S - 1)·stride - 2p + K.</summary>
    public static DenseArray TransposedConvolution(DenseArray x, DenseArray weight, double[]? bias, int groups, int stride, int padding)
    {
        int n = x.Shape[0], inputs = weight.Shape[0], groupOutputs = weight.Shape[1], groupInputs = inputs / groups, outputs = groupOutputs * groups;
        int[] spatial = x.Shape[2..], kernel = weight.Shape[2..];
        int[] outSpatial = spatial.Select((s, d) => (s - 1) * stride - 2 * padding + kernel[d]).ToArray();
        var y = new DenseArray(new double[n * outputs * outSpatial.Aggregate(1, (a, b) => a * b)], [n, outputs, .. outSpatial]);
        foreach (int[] position in Grid(outSpatial))
            for (int s = 0; s < n; s++)
                for (int o = 0; o < outputs; o++) y.Values[y.Offset([s, o, .. position])] = bias?[o] ?? 0;
        foreach (int[] position in Grid(spatial))
            for (int s = 0; s < n; s++)
                for (int i = 0; i < inputs; i++)
                    for (int j = 0; j < groupOutputs; j++)
                        foreach (int[] k in Grid(kernel))
                        {
                            int[] at = position.Select((p, d) => p * stride - padding + k[d]).ToArray();
                            if (at.Where((a, d) => a < 0 || a >= outSpatial[d]).Any()) continue;
                            int o = i / groupInputs * groupOutputs + j;
                            y.Values[y.Offset([s, o, .. at])] += weight.Values[weight.Offset([i, j, .. k])] * x.Values[x.Offset([s, i, .. position])];
                        }

        return y;
    }

    /// <summary>Every index of a grid of these sizes, in row-major order.</summary>
    private static IEnumerable<int[]> Grid(int[] sizes)
    {
        if (sizes.Any(s => s <= 0)) yield break;
        var index = new int[sizes.Length];
        while (true)
        {
            yield return (int[])index.Clone();
            int d = sizes.Length - 1;
            while (d >= 0 && ++index[d] == sizes[d]) index[d--] = 0;
            if (d < 0) yield break;
        }
    }
}
