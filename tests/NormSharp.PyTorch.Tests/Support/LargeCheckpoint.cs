namespace NormSharp.PyTorch.Tests.Support;

/// <summary>A torch.save file of about 100 MB, laid out as PyTorch writes one (stored entries): 100 float32 tensors of
/// 1 MiB each, every fourth a transposed view (so it is gathered, not sliced), and a counter per layer.</summary>
public static class LargeCheckpoint
{
    public const int Layers = 100, Side = 512;

    /// <summary>The bytes of the tensors read: 100 MiB of floats and 100 counters.</summary>
    public const long TensorBytes = Layers * (Side * Side * 4L + 8);

    public static void Write(string path)
    {
        var tensors = new List<(string, TensorSpec)>();
        var storages = new List<(string, Action<Stream>)>();
        for (int i = 0; i < Layers; i++)
        {
            string key = (2 * i).ToString(System.Globalization.CultureInfo.InvariantCulture);
            long[] strides = i % 4 == 3 ? [1, Side] : [Side, 1];
            tensors.Add(($"layer{i / 10}.{i % 10}.bn.weight", new TensorSpec("FloatStorage", key, Side * Side, 0, [Side, Side], strides)));
            int seed = i;
            storages.Add((key, stream =>
            {
                var values = new float[Side * Side];
                var random = new Random(seed);
                for (int v = 0; v < values.Length; v++) values[v] = (float)random.NextDouble();
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
            }));
            string counterKey = (2 * i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            tensors.Add(($"layer{i / 10}.{i % 10}.bn.num_batches_tracked", TensorSpec.Whole("LongStorage", counterKey)));
            storages.Add((counterKey, stream => stream.Write(TorchArchive.Bytes((long)seed))));
        }

        using var file = File.Create(path);
        TorchArchive.Write(file, PickleWriter.StateDict(tensors), storages);
    }
}
