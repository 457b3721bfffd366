using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>The transform y = fma(x - centre, alpha, beta) at every length and channel count, in place and not, against the
/// scalar formula bit for bit; and the per-channel fold. .ci/run repeats these tests on each instruction-set path.</summary>
public class BatchNormTransformTests
{
    [Fact]
    public void ApplyRun_EveryLength_IsASubtractionAndAFusedMultiplyAddPerElement_AlsoInPlace()
    {
        Check(1e4f, 1.7f, -0.3f);
        Check(-3e5, 0.9, 2.5);

        static void Check<T>(T centre, T alpha, T beta) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int length in Lengths)
            {
                T[] x = Values<T>(length, length, double.CreateTruncating(centre));
                T[] expected = x.Select(v => T.FusedMultiplyAdd(v - centre, alpha, beta)).ToArray();
                var y = new T[length];
                BatchNormTransform.ApplyRun<T>(x, y, centre, alpha, beta);
                AssertSameBits<T>(expected, y, $"{typeof(T).Name}, length {length}");
                BatchNormTransform.ApplyRun<T>(x, x, centre, alpha, beta);
                AssertSameBits<T>(expected, x, $"{typeof(T).Name}, length {length}, in place");
            }
        }
    }

    [Fact]
    public void ApplyRows_EveryChannelCount_IsASubtractionAndAFusedMultiplyAddPerElement_AlsoInPlace()
    {
        // Rows go four at a time: 1, 3, 4, 5 and 9 rows take every mix of whole groups and the rows left.
        foreach (int rows in new[] { 1, 3, 4, 5, 9 })
        {
            Check<float>(rows);
            Check<double>(rows);
        }

        static void Check<T>(int rows) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int channels in ChannelCounts)
            {
                T[] x = Values<T>(rows * channels, channels, 100), centre = Values<T>(channels, 3, 100);
                T[] alpha = Values<T>(channels, 1), beta = Values<T>(channels, 2);
                T[] expected = x.Select((v, i) => T.FusedMultiplyAdd(v - centre[i % channels], alpha[i % channels], beta[i % channels])).ToArray();
                var y = new T[x.Length];
                BatchNormTransform.ApplyRows<T>(x, y, rows, centre, alpha, beta);
                AssertSameBits<T>(expected, y, $"{typeof(T).Name}, {rows} rows of {channels} channels");
                BatchNormTransform.ApplyRows<T>(x, x, rows, centre, alpha, beta);
                AssertSameBits<T>(expected, x, $"{typeof(T).Name}, {rows} rows of {channels} channels, in place");
            }
        }
    }

    [Fact]
    public void Coefficients_RoundTheMeanToT_AndMoveWhatRoundingLeftIntoBetaInDouble()
    {
        const double mean = 12345.678901234567, invStd = 0.3;
        (float centre, float alpha, float beta) = BatchNormTransform.Coefficients(mean, invStd, 1.5f, -0.25f);
        Assert.Equal((float)mean, centre);
        Assert.Equal((float)(invStd * 1.5), alpha);                      // one rounding, from double
        Assert.Equal((float)(-0.25 - (mean - (double)(float)mean) * alpha), beta);
        Assert.NotEqual(-0.25f, beta);                                   // the mean's rounding moved into beta

        (double centreD, double alphaD, double betaD) = BatchNormTransform.Coefficients(mean, invStd, 1.5, -0.25);
        Assert.Equal((mean, invStd * 1.5, -0.25), (centreD, alphaD, betaD));   // double: nothing left over
    }

    [Theory]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(double.NaN)]
    public void Coefficients_OfANonFiniteMean_KeepTheBias_AndTheCentreCarriesIt(double mean)
    {
        (float centre, _, float beta) = BatchNormTransform.Coefficients(mean, 2.0, 1f, 0.5f);
        Assert.Equal((float)mean, centre);
        Assert.Equal(0.5f, beta);
    }

    [Fact]
    public void ConstantChannelFarFromZero_GivesExactlyTheBias()
    {
        // x == mean: x - centre is 0, and beta is the bias plus the mean's rounding, which is 0 for a float-valued mean.
        (float centre, float alpha, float beta) = BatchNormTransform.Coefficients(12345.5, 1 / Math.Sqrt(1e-5), 2f, 0.75f);
        float[] x = Enumerable.Repeat(12345.5f, 37).ToArray(), y = new float[37];
        BatchNormTransform.ApplyRun<float>(x, y, centre, alpha, beta);
        Assert.All(y, v => Assert.Equal(0.75f, v));
    }
}
