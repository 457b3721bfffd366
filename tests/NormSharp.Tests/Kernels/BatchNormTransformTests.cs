using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>The transform y = fma(x, alpha, beta) at every length and channel count, in place and not, against the scalar
/// fused multiply-add bit for bit. .ci/run repeats these tests on each instruction-set path.</summary>
public class BatchNormTransformTests
{
    [Fact]
    public void ApplyRun_EveryLength_IsAFusedMultiplyAddPerElement_AlsoInPlace()
    {
        Check(1.7f, -0.3f);
        Check(0.9, 2.5);

        static void Check<T>(T alpha, T beta) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int length in Lengths)
            {
                T[] x = Values<T>(length, length);
                T[] expected = x.Select(v => T.FusedMultiplyAdd(v, alpha, beta)).ToArray();
                var y = new T[length];
                BatchNormTransform.ApplyRun<T>(x, y, alpha, beta);
                AssertSameBits<T>(expected, y, $"{typeof(T).Name}, length {length}");
                BatchNormTransform.ApplyRun<T>(x, x, alpha, beta);
                AssertSameBits<T>(expected, x, $"{typeof(T).Name}, length {length}, in place");
            }
        }
    }

    [Fact]
    public void ApplyRows_EveryChannelCount_IsAFusedMultiplyAddPerElement_AlsoInPlace()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int channels in ChannelCounts)
            {
                const int rows = 3;
                T[] x = Values<T>(rows * channels, channels), alpha = Values<T>(channels, 1), beta = Values<T>(channels, 2);
                T[] expected = x.Select((v, i) => T.FusedMultiplyAdd(v, alpha[i % channels], beta[i % channels])).ToArray();
                var y = new T[x.Length];
                BatchNormTransform.ApplyRows<T>(x, y, rows, alpha, beta);
                AssertSameBits<T>(expected, y, $"{typeof(T).Name}, {channels} channels");
                BatchNormTransform.ApplyRows<T>(x, x, rows, alpha, beta);
                AssertSameBits<T>(expected, x, $"{typeof(T).Name}, {channels} channels, in place");
            }
        }
    }
}
