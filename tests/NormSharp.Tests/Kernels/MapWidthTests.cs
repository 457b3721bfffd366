using System.Numerics;
using NormSharp.Kernels;
using static NormSharp.Tests.Kernels.KernelInputs;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// The maps' bodies at every register width, called directly: the dispatch takes Vector256 at most, so the Vector512
/// bodies run nowhere else (a width the machine lacks runs in software). Each must give the scalar formula's bits at
/// every length from one register up, in place and not.
/// </summary>
public class MapWidthTests
{
    [Fact]
    public void Transform_AtEveryWidth_IsASubtractionAndAFusedMultiplyAddPerElement()
    {
        Check<float, Lanes512<float>>();
        Check<float, Lanes256<float>>();
        Check<float, Lanes128<float>>();
        Check<float, ScalarLane<float>>();
        Check<double, Lanes512<double>>();
        Check<double, Lanes128<double>>();

        static void Check<T, TLanes>() where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
        {
            T centre = T.CreateTruncating(1e3), alpha = T.CreateTruncating(1.7), beta = T.CreateTruncating(-0.3);
            foreach (int length in Enumerable.Range(TLanes.Count, 301 - TLanes.Count))
            {
                string context = $"{typeof(TLanes).Name} of {typeof(T).Name}, length {length}";
                T[] x = Values<T>(length, length, 1e3), centres = Values<T>(length, length + 3, 1e3);
                T[] alphas = Values<T>(length, length + 1), betas = Values<T>(length, length + 2);
                var y = new T[length];
                BatchNormTransform.ApplyRun<T, TLanes>(x, y, centre, alpha, beta);
                AssertSameBits<T>(x.Select(v => T.FusedMultiplyAdd(v - centre, alpha, beta)).ToArray(), y, context);
                // Rows: 6 rows of `length` channels (a group of four, then two), in place.
                T[] rows = [.. x, .. x, .. x, .. x, .. x, .. x];
                T[] expected = rows.Select((v, i) => T.FusedMultiplyAdd(v - centres[i % length], alphas[i % length], betas[i % length])).ToArray();
                BatchNormTransform.ApplyRows<T, TLanes>(rows, rows, 6, centres, alphas, betas);
                AssertSameBits<T>(expected, rows, $"{context}, rows in place");
            }
        }
    }

    [Fact]
    public unsafe void Transform_WithNonTemporalStores_GivesTheSameBits_AtEveryAlignmentAndLength()
    {
        Check<float, Lanes512<float>>();
        Check<float, Lanes256<float>>();
        Check<float, Lanes128<float>>();
        Check<double, Lanes512<double>>();
        Check<double, Lanes256<double>>();

        static void Check<T, TLanes>() where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
        {
            T centre = T.CreateTruncating(1e3), alpha = T.CreateTruncating(1.7), beta = T.CreateTruncating(-0.3);
            // Aligned memory, then every offset from it: the head before y's first aligned register, the body, the tail.
            int capacity = 400;
            T* block = (T*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(T)), 64);
            try
            {
                foreach (int offset in Enumerable.Range(0, 2 * TLanes.Count + 1))
                    foreach (int length in new[] { 1, 2, TLanes.Count - 1, TLanes.Count, 2 * TLanes.Count + 3, 97, 256, 301 }.Where(n => n >= 1 && offset + n <= capacity))
                    {
                        string context = $"{typeof(TLanes).Name} of {typeof(T).Name}, offset {offset}, length {length}";
                        T[] x = Values<T>(length, length, 1e3);
                        var y = new Span<T>(block + offset, length);
                        y.Clear();
                        BatchNormTransform.ApplyRunNonTemporal<T, TLanes>(x, y, centre, alpha, beta);
                        BatchNormTransform.FenceStores();
                        AssertSameBits<T>(x.Select(v => T.FusedMultiplyAdd(v - centre, alpha, beta)).ToArray(), y.ToArray(), context);
                        // The public entry, which takes the non-temporal path from two registers of Vector256 on.
                        y.Clear();
                        BatchNormTransform.ApplyRun<T>(x, y, centre, alpha, beta, nonTemporal: true);
                        AssertSameBits<T>(x.Select(v => T.FusedMultiplyAdd(v - centre, alpha, beta)).ToArray(), y.ToArray(), $"{context}, entry");
                    }

                // Rows: aligned rows of a multiple of a register take non-temporal stores, others the cached ones.
                foreach (int offset in new[] { 0, 1, 8 })
                    foreach (int channels in new[] { 8, 16, 24, 12 })
                    {
                        int rows = 7;
                        T[] x = Values<T>(rows * channels, channels, 1e3);
                        T[] centres = Values<T>(channels, channels + 3, 1e3), alphas = Values<T>(channels, channels + 1), betas = Values<T>(channels, channels + 2);
                        T[] expected = x.Select((v, i) => T.FusedMultiplyAdd(v - centres[i % channels], alphas[i % channels], betas[i % channels])).ToArray();
                        var y = new Span<T>(block + offset, rows * channels);
                        y.Clear();
                        BatchNormTransform.ApplyRows<T>(x, y, rows, centres, alphas, betas, nonTemporal: true, prefetch: true);
                        BatchNormTransform.FenceStores();
                        AssertSameBits<T>(expected, y.ToArray(), $"rows of {channels} {typeof(T).Name} at offset {offset}");
                        y.Clear();
                        BatchNormTransform.ApplyRows<T>(x, y, rows, centres, alphas, betas, prefetch: true);
                        AssertSameBits<T>(expected, y.ToArray(), $"rows of {channels} {typeof(T).Name} at offset {offset}, prefetched");
                    }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(block);
            }
        }
    }

    [Fact]
    public unsafe void RowsAsOneRun_GivesTheRowsKernelsBits_AtEveryAlignment()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            int capacity = 20000;
            T* block = (T*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(T)), 64);
            try
            {
                foreach (int channels in new[] { 4, 7, 8, 12, 16, 17, 64, 1000 }.Where(BatchNormTransform.AppliesRowsAsRun<T>))
                    foreach (int rows in new[] { 1, 3, 9 })
                        foreach (int offset in new[] { 0, 1, 3, 8 })
                            foreach (bool nonTemporal in new[] { false, true })
                            {
                                T[] x = Values<T>(rows * channels, channels, 1e3);
                                T[] centres = Values<T>(channels, channels + 3, 1e3), alphas = Values<T>(channels, channels + 1), betas = Values<T>(channels, channels + 2);
                                T[] expected = x.Select((v, i) => T.FusedMultiplyAdd(v - centres[i % channels], alphas[i % channels], betas[i % channels])).ToArray();
                                var y = new Span<T>(block + offset, rows * channels);
                                y.Clear();
                                BatchNormTransform.ApplyRowsAsRun<T>(x, y, [.. centres, .. centres], [.. alphas, .. alphas], [.. betas, .. betas], nonTemporal);
                                BatchNormTransform.FenceStores();
                                AssertSameBits<T>(expected, y.ToArray(), $"{rows}x{channels} {typeof(T).Name} at offset {offset}, non-temporal {nonTemporal}");
                                // In place.
                                T[] inPlace = (T[])x.Clone();
                                BatchNormTransform.ApplyRowsAsRun<T>(inPlace, inPlace, [.. centres, .. centres], [.. alphas, .. alphas], [.. betas, .. betas], nonTemporal);
                                AssertSameBits<T>(expected, inPlace, $"{rows}x{channels} {typeof(T).Name} in place, non-temporal {nonTemporal}");
                            }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(block);
            }
        }
    }

    [Fact]
    public unsafe void InputGradientRowsAsOneRun_GivesTheRowsKernelsBits_AtEveryAlignment()
    {
        Check<float>();
        Check<double>();

        static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            int capacity = 20000;
            T* block = (T*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(T)), 64);
            try
            {
                foreach (int channels in new[] { 4, 8, 12, 17, 64, 1000 }.Where(BatchNormTransform.AppliesRowsAsRun<T>))
                    foreach (int rows in new[] { 1, 3, 9 })
                        foreach (int offset in new[] { 0, 1, 3, 8 })
                            foreach (bool batchStatistics in new[] { true, false })
                                foreach (bool nonTemporal in new[] { false, true })
                                {
                                    T[] x = Values<T>(rows * channels, channels), dy = Values<T>(rows * channels, channels + 5);
                                    T[] centre = Values<T>(channels, channels + 1), gradMean = Values<T>(channels, channels + 2);
                                    T[] k = Values<T>(channels, channels + 3), scale = Values<T>(channels, channels + 4);
                                    var expected = new T[rows * channels];
                                    BatchNormBackward.InputGradientRows<T, ScalarLane<T>>(x, dy, expected, rows, new(centre, gradMean, k, scale), batchStatistics);
                                    var dx = new Span<T>(block + offset, rows * channels);
                                    dx.Clear();
                                    BatchNormBackward.InputGradientRowsAsRun<T>(x, dy, dx, new([.. centre, .. centre], [.. gradMean, .. gradMean], [.. k, .. k], [.. scale, .. scale]),
                                                                              batchStatistics, nonTemporal);
                                    BatchNormTransform.FenceStores();
                                    AssertSameBits<T>(expected, dx.ToArray(), $"{rows}x{channels} {typeof(T).Name} at offset {offset}, {batchStatistics}, non-temporal {nonTemporal}");
                                }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(block);
            }
        }
    }

    [Fact]
    public unsafe void InputGradient_WithNonTemporalStores_GivesTheSameBits_AtEveryAlignmentAndLength()
    {
        Check<float, Lanes512<float>>();
        Check<float, Lanes256<float>>();
        Check<double, Lanes256<double>>();

        static void Check<T, TLanes>() where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
        {
            var channel = new BatchNormBackward.ChannelGradient<T>(T.CreateTruncating(0.5), T.CreateTruncating(0.125), T.CreateTruncating(0.7), T.CreateTruncating(1.3));
            int capacity = 400;
            T* block = (T*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(T)), 64);
            try
            {
                foreach (bool batchStatistics in new[] { true, false })
                    foreach (int offset in Enumerable.Range(0, 2 * TLanes.Count + 1))
                        foreach (int length in new[] { 1, TLanes.Count - 1, TLanes.Count, 2 * TLanes.Count + 3, 97, 301 }.Where(n => n >= 1))
                        {
                            T[] x = Values<T>(length, length), dy = Values<T>(length, length + 3);
                            var expected = new T[length];
                            BatchNormBackward.InputGradientRun<T, ScalarLane<T>>(x, dy, expected, channel, batchStatistics);
                            var dx = new Span<T>(block + offset, length);
                            dx.Clear();
                            BatchNormBackward.InputGradientRunNonTemporal<T, TLanes>(x, dy, dx, channel, batchStatistics);
                            BatchNormTransform.FenceStores();
                            AssertSameBits<T>(expected, dx.ToArray(), $"{typeof(TLanes).Name} of {typeof(T).Name}, offset {offset}, length {length}, {batchStatistics}");
                        }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(block);
            }
        }
    }

    [Fact]
    public void InputGradient_AtEveryWidth_MatchesTheScalarFormula()
    {
        Check<float, Lanes512<float>>();
        Check<float, Lanes256<float>>();
        Check<float, Lanes128<float>>();
        Check<float, ScalarLane<float>>();
        Check<double, Lanes512<double>>();
        Check<double, Lanes128<double>>();

        static void Check<T, TLanes>() where T : unmanaged, IFloatingPointIeee754<T> where TLanes : struct, ILanes<TLanes, T>
        {
            var channel = new BatchNormBackward.ChannelGradient<T>(T.CreateTruncating(0.5), T.CreateTruncating(0.125), T.CreateTruncating(0.7), T.CreateTruncating(1.3));
            foreach (int length in Enumerable.Range(TLanes.Count, 301 - TLanes.Count))
            {
                string context = $"{typeof(TLanes).Name} of {typeof(T).Name}, length {length}";
                T[] x = Values<T>(length, length), dy = Values<T>(length, length + 3);
                T[] mean = Values<T>(length, 1), gradMean = Values<T>(length, 2), k = Values<T>(length, 3), scale = Values<T>(length, 4);
                var dx = new T[length];
                BatchNormBackward.InputGradientRun<T, TLanes>(x, dy, dx, channel, batchStatistics: true);
                AssertSameBits<T>(x.Select((v, i) => (dy[i] - channel.GradMean - (v - channel.Centre) * channel.K) * channel.Scale).ToArray(), dx, context);
                T[] inPlace = (T[])dy.Clone();
                BatchNormBackward.InputGradientRun<T, TLanes>(x, inPlace, inPlace, channel, batchStatistics: false);
                AssertSameBits<T>(dy.Select(g => g * channel.Scale).ToArray(), inPlace, $"{context}, running statistics into dy");
                BatchNormBackward.InputGradientRows<T, TLanes>(x, dy, dx, 1, new(mean, gradMean, k, scale), batchStatistics: true);
                AssertSameBits<T>(x.Select((v, i) => (dy[i] - gradMean[i] - (v - mean[i]) * k[i]) * scale[i]).ToArray(), dx, $"{context}, a row");
            }
        }
    }
}
