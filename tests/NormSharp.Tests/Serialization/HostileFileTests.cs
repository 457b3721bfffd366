using System.Buffers.Binary;
using System.Text;
using CsCheck;
using NormSharp.Serialization;

namespace NormSharp.Tests.Serialization;

/// <summary>
/// Files from elsewhere must never crash, hang or exhaust the reader: hand-written malicious files, then mutated and
/// truncated valid ones. Only <see cref="SafeTensorsException"/> may escape.
/// </summary>
public class HostileFileTests
{
    /// <summary>Mutated files per CI run.</summary>
    public const int FuzzCases = 12000;

    private static byte[] File(string header, int dataLength, ulong? declaredLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)json.Length);
        json.CopyTo(file, 8);
        return file;
    }

    private static string Entry(string name, string dtype, string shape, string offsets) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":{offsets}}}";

    public static TheoryData<string, byte[], string> Malicious() => new()
    {
        { "empty file", [], "8-byte header length" },
        { "seven bytes", new byte[7], "8-byte header length" },
        { "huge header length", File("{}", 0, ulong.MaxValue), "exceeds the limit" },
        { "header length past the end", File("{}", 0, 1000), "exceeds the 2 bytes that follow it" },
        { "header not JSON", File("{\"a\":", 0), "not valid JSON" },
        { "header an array", File("[1,2]", 0), "must be a JSON object" },
        { "invalid UTF-8", [.. File("{}", 0).Take(8), 0x7B, 0xFF, 0x7D], "not valid UTF-8" },
        { "invalid UTF-8 in a name", [.. File("{\"a\":1}", 0).Take(8), .. "{\""u8.ToArray(), 0xC3, .. "\":1}"u8.ToArray()], "not valid UTF-8" },
        { "nested too deep", File("{\"a\":{\"shape\":[[[[1]]]]}}", 0), "not valid JSON" },
        { "offsets past the end", File("{" + Entry("a", "F32", "[2]", "[0,8]") + "}", 4), "run past the data buffer" },
        { "offsets reversed", File("{" + Entry("a", "F32", "[0]", "[8,4]") + "}", 8), "end before they begin" },
        { "negative shape", File("{" + Entry("a", "F32", "[-1]", "[0,4]") + "}", 4), "non-negative integers" },
        { "fractional shape", File("{" + Entry("a", "F32", "[1.5]", "[0,4]") + "}", 4), "non-negative integers" },
        { "shape beyond int64", File("{" + Entry("a", "F32", "[99999999999999999999]", "[0,4]") + "}", 4), "non-negative integers" },
        { "overflowing shape", File("{" + Entry("a", "U8", "[4294967296,4294967296,4294967296]", "[0,4]") + "}", 4), "more elements than can be addressed" },
        { "shape and bytes disagree", File("{" + Entry("a", "F32", "[3]", "[0,8]") + "}", 8), "needs 12 bytes" },
        { "large shape, few bytes", File("{" + Entry("a", "F64", "[2305843009213693952]", "[0,8]") + "}", 8), "needs more than 2^63 bytes" },
        { "duplicate names", File("{" + Entry("a", "F32", "[1]", "[0,4]") + "," + Entry("a", "F32", "[1]", "[4,8]") + "}", 8), "names \"a\" twice" },
        { "overlapping tensors", File("{" + Entry("a", "F32", "[2]", "[0,8]") + "," + Entry("b", "F32", "[1]", "[4,8]") + "}", 8), "overlap" },
        { "gap between tensors", File("{" + Entry("a", "F32", "[1]", "[0,4]") + "," + Entry("b", "F32", "[1]", "[8,12]") + "}", 12), "belong to no tensor" },
        { "trailing bytes", File("{" + Entry("a", "F32", "[1]", "[0,4]") + "}", 9), "tensors cover 4" },
        { "unknown dtype", File("{" + Entry("a", "F128", "[1]", "[0,16]") + "}", 16), "unknown dtype \"F128\"" },
        { "missing field", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "needs dtype, shape and data_offsets" },
        { "extra field", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4), "unexpected or repeated field \"x\"" },
        { "three offsets", File("{" + Entry("a", "F32", "[1]", "[0,4,4]") + "}", 4), "[begin, end]" },
        { "entry not an object", File("{\"a\":7}", 0), "must be an object" },
        { "metadata not strings", File("{\"__metadata__\":{\"k\":1}}", 0), "must be a string" },
        { "metadata an array", File("{\"__metadata__\":[]}", 0), "must be an object of strings" },
        { "empty name", File("{" + Entry("", "F32", "[1]", "[0,4]") + "}", 4), "empty name" },
        { "dtype a number", File("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "dtype must be a string" },
    };

    [Theory]
    [MemberData(nameof(Malicious))]
    public void MaliciousFile_ThrowsTheDocumentedExceptionNamingTheProblem(string description, byte[] file, string expected)
    {
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(file));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{description}: message was '{e.Message}'");
    }

    /// <summary>A valid file with several tensors of every loaded type and metadata, to mutate.</summary>
    private static byte[] ValidFile(int seed)
    {
        var random = new Random(seed);
        int channels = random.Next(1, 9);
        var state = new StateDict(2);
        foreach (string layer in new[] { "bn1", "layer1.0.bn2" })
        {
            state[$"{layer}.weight"] = StateTensor.FromSingles(Enumerable.Range(0, channels).Select(_ => (float)random.NextDouble()).ToArray(), channels);
            state[$"{layer}.bias"] = StateTensor.FromDoubles(Enumerable.Range(0, channels).Select(_ => random.NextDouble()).ToArray(), channels);
            state[$"{layer}.running_var"] = StateTensor.FromStored(StateDType.Float16, [channels], Enumerable.Range(0, channels).Select(_ => 1f).ToArray());
            state[$"{layer}.running_mean"] = StateTensor.FromStored(StateDType.BFloat16, [channels], new float[channels]);
            state[$"{layer}.num_batches_tracked"] = StateTensor.Scalar(random.Next());
        }

        return SafeTensors.Serialize(state, new Dictionary<string, string> { ["source"] = "fuzz" });
    }

    private enum Mutation { FlipBit, SetByte, Truncate, Extend, SetHeaderLength, ReplaceDigit, InsertText, DeleteRange }

    private sealed record FuzzCase(int Seed, Mutation[] Mutations, int[] Positions, int[] Values)
    {
        public byte[] Apply()
        {
            var bytes = ValidFile(Seed).ToList();
            for (int i = 0; i < Mutations.Length; i++)
            {
                int at = Positions[i] % Math.Max(1, bytes.Count);
                int value = Values[i];
                switch (Mutations[i])
                {
                    case Mutation.FlipBit: if (bytes.Count > 0) bytes[at] ^= (byte)(1 << (value & 7)); break;
                    case Mutation.SetByte: if (bytes.Count > 0) bytes[at] = (byte)value; break;
                    case Mutation.Truncate: bytes.RemoveRange(at, bytes.Count - at); break;
                    case Mutation.Extend: bytes.AddRange(Enumerable.Repeat((byte)value, value % 64)); break;
                    case Mutation.SetHeaderLength:
                        ulong length = (value % 4) switch { 0 => ulong.MaxValue - (ulong)value, 1 => (ulong)value, 2 => 100_000_001, _ => (ulong)(bytes.Count - 8 + (value % 5) - 2) };
                        if (bytes.Count >= 8) BinaryPrimitives.WriteUInt64LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes), length);
                        break;
                    case Mutation.ReplaceDigit:
                        int digit = bytes.FindIndex(Math.Min(at, bytes.Count), b => b is >= (byte)'0' and <= (byte)'9');
                        if (digit >= 0)
                        {
                            byte[] replacement = Encoding.ASCII.GetBytes(((value % 6) switch { 0 => "-1", 1 => "1e3", 2 => "99999999999999999999", 3 => "0", 4 => "4294967296", _ => "7" }));
                            bytes.RemoveAt(digit);
                            bytes.InsertRange(digit, replacement);
                        }

                        break;
                    case Mutation.InsertText:
                        string[] texts = ["{", "}", "[", "]", ",", "\"", ":", "\"a\":1", "null", "\"__metadata__\"", "\\u0000", "\"dtype\":\"F32\""];
                        bytes.InsertRange(Math.Min(at, bytes.Count), Encoding.ASCII.GetBytes(texts[value % texts.Length]));
                        break;
                    default:
                        bytes.RemoveRange(Math.Min(at, bytes.Count), Math.Min(value % 16, bytes.Count - Math.Min(at, bytes.Count)));
                        break;
                }
            }

            return bytes.ToArray();
        }
    }

    private static readonly Gen<FuzzCase> Cases =
        from seed in Gen.Int[0, 1000]
        from count in Gen.Int[1, 4]
        from mutations in Gen.Enum<Mutation>().Array[count]
        from positions in Gen.Int[0, int.MaxValue].Array[count]
        from values in Gen.Int[0, 255].Array[count]
        select new FuzzCase(seed, mutations, positions, values);

    [Fact]
    public void MutatedAndTruncatedFiles_OnlyTheDocumentedExceptionEscapes_AndMemoryStaysNearTheFileSize()
    {
        int accepted = 0, rejected = 0;
        Cases.Sample(c =>
        {
            byte[] file = c.Apply();
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                SafeTensorsFile read = SafeTensors.Read(file);
                accepted++;
                // Whatever was accepted must be usable: it writes back and reads again to the same tensors.
                SafeTensorsFile again = SafeTensors.Read(SafeTensors.Serialize(read.Tensors));
                Assert.Equal(read.Tensors.Keys, again.Tensors.Keys);
            }
            catch (SafeTensorsException)
            {
                rejected++;
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 64L * file.Length + (1 << 20), $"{allocated} bytes allocated for a {file.Length}-byte file");
        }, iter: FuzzCases, threads: 1);
        Assert.Equal(FuzzCases, accepted + rejected);
        Assert.True(rejected > FuzzCases / 2, $"only {rejected} of {FuzzCases} mutated files were rejected");
    }
}
