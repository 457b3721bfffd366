using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Kernels;

/// <summary>
/// How the passes move memory (stores past the caches for outputs larger than the last-level cache, rows prefetched or read
/// as one run from memory, small inputs on the calling thread) is chosen by size; none of it may change a bit. Each layer's
/// training forward and backward run once with every choice forced on and once with every choice off.
/// </summary>
[Collection(nameof(MemoryPathTests))]
public class MemoryPathTests
{
    [Fact]
    public void ForwardAndBackward_GiveTheSameBits_WhicheverWayMemoryIsMoved()
    {
        foreach ((nint[] lengths, bool channelsLast) in new (nint[], bool)[]
                 {
                     ([4, 16, 20, 20], false), ([4, 16, 20, 20], true), ([2, 8, 40, 40], false), ([3, 24, 7, 9], true), ([64, 40], false), ([2, 8, 4, 4], false),
                 })
        {
            (float[] yOn, float[] dxOn) = Run(lengths, channelsLast, forceFast: true);
            (float[] yOff, float[] dxOff) = Run(lengths, channelsLast, forceFast: false);
            string context = $"{string.Join("x", lengths)}{(channelsLast ? " channels-last" : "")}";
            Assert.True(yOn.AsSpan().SequenceEqual(yOff), $"{context}: forward");
            Assert.True(dxOn.AsSpan().SequenceEqual(dxOff), $"{context}: backward");
        }
    }

    private static (float[] Y, float[] Dx) Run(nint[] lengths, bool channelsLast, bool forceFast)
    {
        long nonTemporal = OutputStores.NonTemporalAboveBytes, prefetch = OutputStores.PrefetchFromBytes;
        int serial = NormLayout.SerialBelowElements;
        try
        {
            OutputStores.NonTemporalAboveBytes = forceFast ? 0 : long.MaxValue;
            OutputStores.PrefetchFromBytes = forceFast ? 0 : long.MaxValue;
            NormLayout.SerialBelowElements = forceFast ? int.MaxValue : 0;
            Tensor<float> x = Random(11, lengths), dy = Random(12, lengths);
            if (channelsLast)
            {
                x = ChannelsLast.From(x);
                dy = ChannelsLast.From(dy);
            }

            NormBase<float> layer = lengths.Length == 2 ? new BatchNorm1d((int)lengths[1]) : new BatchNorm2d((int)lengths[1]);
            Tensor<float> y = layer.Forward(x), dx = layer.Backward(dy);
            return (Values32(y), Values32(dx));
        }
        finally
        {
            OutputStores.NonTemporalAboveBytes = nonTemporal;
            OutputStores.PrefetchFromBytes = prefetch;
            NormLayout.SerialBelowElements = serial;
        }
    }

    private static float[] Values32(Tensor<float> t)
    {
        var values = new float[t.FlattenedLength];
        int i = 0;
        foreach (float v in t) values[i++] = v;
        return values;
    }
}
