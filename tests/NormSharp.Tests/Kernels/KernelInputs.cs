using System.Numerics;

namespace NormSharp.Tests.Kernels;

/// <summary>Inputs for the kernel tests, and the bit-for-bit comparison they make.</summary>
public static class KernelInputs
{
    /// <summary>Every length 0..300 (every vector tail and every lane of a 32-lane chunk), then a few large ones: around a
    /// chunk of 2048 values, several chunks, and a long run.</summary>
    public static IEnumerable<int> Lengths => Enumerable.Range(0, 301).Concat([2047, 2048, 2049, 4096 + 17, 100_003]);

    /// <summary>Channel counts of the rows kernels: every count 1..300 (every combination of register widths).</summary>
    public static IEnumerable<int> ChannelCounts => Enumerable.Range(1, 300);

    /// <summary><paramref name="length"/> values in [offset - 1, offset + 3), seeded, rounded to T.</summary>
    public static T[] Values<T>(int length, int seed, double offset = 0) where T : IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => T.CreateTruncating(offset + random.NextDouble() * 4 - 1)).ToArray();
    }

    /// <summary>The values as doubles (exact for float and double).</summary>
    public static double[] Widened<T>(T[] values) where T : IFloatingPointIeee754<T> => values.Select(double.CreateTruncating).ToArray();

    /// <summary>Asserts that the two have the same bits (so +0 and -0 differ, and NaN equals only the same NaN).</summary>
    public static void AssertSameBits<T>(T expected, T actual, string context) where T : IFloatingPointIeee754<T>
    {
        double e = double.CreateTruncating(expected), a = double.CreateTruncating(actual);
        if (BitConverter.DoubleToInt64Bits(e) != BitConverter.DoubleToInt64Bits(a)) Assert.Fail($"{context}: expected {e:R}, got {a:R}");
    }

    /// <summary>Asserts element by element that the two have the same bits.</summary>
    public static void AssertSameBits<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string context) where T : IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateTruncating(expected[i]), a = double.CreateTruncating(actual[i]);
            if (BitConverter.DoubleToInt64Bits(e) != BitConverter.DoubleToInt64Bits(a)) Assert.Fail($"{context}, element {i}: expected {e:R}, got {a:R}");
        }
    }
}
