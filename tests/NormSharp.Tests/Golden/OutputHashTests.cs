using System.Numerics;
using System.Security.Cryptography;

using NormSharp.Tests.Support;

namespace NormSharp.Tests.Golden;

/// <summary>
/// A fixed set of outputs (forward, backward, running statistics; float and double; every layout and reduction path;
/// BatchNorm and InstanceNorm), hashed. A change that is meant to leave results alone (a move, a refactor, another
/// instruction-set path) must keep every hash; a change that is meant to alter bits updates
/// <c>output-hashes.txt</c> deliberately: run the tests with NORMSHARP_WRITE_GOLDEN=1 and commit the file with the
/// reason.
/// </summary>
public class OutputHashTests
{
    private static string HashFile => Path.Combine(RepositoryPaths.Root, "tests", "NormSharp.Tests", "Golden", "output-hashes.txt");

    [Fact]
    public void FixedOutputs_HaveTheRecordedHashes()
    {
        var actual = Cases().ToDictionary(c => c.Name, c => c.Hash, StringComparer.Ordinal);
        if (Environment.GetEnvironmentVariable("NORMSHARP_WRITE_GOLDEN") == "1")
        {
            File.WriteAllLines(HashFile, actual.Select(p => $"{p.Key} {p.Value}"));
            return;
        }

        var expected = File.ReadAllLines(HashFile).Where(l => l.Length > 0)
                           .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        var differing = expected.Where(p => actual[p.Key] != p.Value).Select(p => p.Key).ToList();
        Assert.True(differing.Count == 0, $"{differing.Count} of {expected.Count} outputs changed: {string.Join(", ", differing)}");
    }

    private static IEnumerable<(string Name, string Hash)> Cases()
    {
        nint[][] batchNormShapes = [[7, 5], [300, 64], [2, 3, 9], [4, 6, 300], [3, 5, 7, 7], [2, 4, 20, 20], [2, 3, 4, 5, 6], [1, 2, 1000]];
        nint[][] instanceShapes = [[3, 4, 9], [2, 5, 7, 7], [2, 3, 17, 17], [1, 2, 3, 4, 5]];
        foreach (nint[] shape in batchNormShapes)
        {
            bool channelsLast = shape.Length >= 4;
            yield return Run<float>("bn", shape, false, false);
            yield return Run<double>("bn", shape, false, false);
            if (channelsLast) yield return Run<float>("bn", shape, false, true);
            yield return Run<float>("bn-offset", shape, true, false);
        }

        foreach (nint[] shape in instanceShapes)
        {
            yield return Run<float>("in", shape, false, false);
            yield return Run<double>("in", shape, false, false);
        }
    }

    private static (string, string) Run<T>(string kind, nint[] shape, bool offsetMean, bool channelsLast) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = (int)shape[1];
        NormBase<T> layer = kind == "in"
            ? shape.Length switch
            {
                3 => new InstanceNorm1d<T>(channels, affine: true, trackRunningStats: true),
                4 => new InstanceNorm2d<T>(channels, affine: true, trackRunningStats: true),
                _ => new InstanceNorm3d<T>(channels, affine: true, trackRunningStats: true),
            }
            : shape.Length switch
            {
                2 or 3 => new BatchNorm1d<T>(channels),
                4 => new BatchNorm2d<T>(channels),
                _ => new BatchNorm3d<T>(channels),
            };
        for (int c = 0; c < channels; c++) (layer.Weight!.Data[c], layer.Bias!.Data[c]) = (T.CreateTruncating(1 + 0.25 * c), T.CreateTruncating(0.5 - c));

        long count = 1;
        foreach (nint l in shape) count *= l;
        var rng = new Random((int)count * 31 + shape.Length);
        var x = new T[count];
        var dy = new T[count];
        double mean = offsetMean ? 1e4 : 0;
        for (int i = 0; i < count; i++)
        {
            x[i] = T.CreateTruncating(mean + 3 * (rng.NextDouble() - 0.5) + (i % channels));
            dy[i] = T.CreateTruncating(rng.NextDouble() - 0.5);
        }

        Tensor<T> input = channelsLast ? ChannelsLast(x, shape) : Tensor.Create(x, shape);
        var bytes = new List<byte>();
        void Add(Tensor<T> t)
        {
            var values = new T[t.FlattenedLength];
            t.FlattenTo(values);
            foreach (T v in values) bytes.AddRange(BitConverter.GetBytes(double.CreateTruncating(v)));
        }

        Add(layer.Forward(input));
        Add(layer.Backward(Tensor.Create(dy, shape)));
        Add(layer.RunningMean!);
        Add(layer.RunningVar!);
        Add(layer.Weight!.Grad!);
        Add(layer.Bias!.Grad!);
        layer.Eval();
        Add(layer.Forward(input));
        Add(layer.Backward(Tensor.Create(dy, shape)));
        string name = $"{kind}-{typeof(T).Name}-{string.Join("x", shape)}{(channelsLast ? "-channels-last" : "")}";
        return (name, Convert.ToHexString(SHA256.HashData(bytes.ToArray()))[..16]);
    }

    private static Tensor<T> ChannelsLast<T>(T[] rowMajor, nint[] shape)
    {
        Tensor<T> source = Tensor.Create(rowMajor, shape);
        var strides = new nint[shape.Length];
        nint stride = 1;
        strides[1] = stride;
        stride *= shape[1];
        for (int d = shape.Length - 1; d >= 2; d--) { strides[d] = stride; stride *= shape[d]; }
        strides[0] = stride;
        var target = Tensor.Create(new T[rowMajor.Length], 0, shape, strides);
        source.CopyTo(target);
        return target;
    }

}
