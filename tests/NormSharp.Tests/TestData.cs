namespace NormSharp.Tests;

/// <summary>Small helpers to build tensors and read them back in tests.</summary>
public static class TestData
{
    public static Tensor<float> Random(int seed, params nint[] shape) => Random<float>(seed, 0, 1, shape);

    public static Tensor<T> Random<T>(int seed, double mean, double std, params nint[] shape)
        where T : System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        long count = 1;
        foreach (nint l in shape) count *= l;
        var values = new T[count];
        for (int i = 0; i < values.Length; i++)
        {
            // Box-Muller: normal values, like torch.randn.
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            values[i] = T.CreateTruncating(mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return Tensor.Create(values, shape);
    }

    public static double[] Values<T>(Tensor<T> tensor) where T : System.Numerics.INumberBase<T>
    {
        var flat = new T[tensor.FlattenedLength];
        tensor.FlattenTo(flat);
        return flat.Select(double.CreateTruncating).ToArray();
    }

    public static Tensor<float> Floats(float[] values, params nint[] shape) => Tensor.Create(values, shape);

    /// <summary>(N, C, S) view sizes of a (N, C, *) shape.</summary>
    public static (int N, int C, int S) Nc(ReadOnlySpan<nint> shape)
    {
        int s = 1;
        for (int d = 2; d < shape.Length; d++) s *= (int)shape[d];
        return ((int)shape[0], (int)shape[1], s);
    }

    public static void AllClose(double[] expected, double[] actual, double atol, double rtol = 0)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(expected[i] - actual[i]) <= tol) && !(double.IsNaN(expected[i]) && double.IsNaN(actual[i])))
                Assert.Fail($"element {i}: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tol:R})");
        }
    }
}
