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
    /// <summary>Mutated files per CI run (each read three ways: from memory, from a seekable and from a pipe-like stream).</summary>
    public const int FuzzCases = 20000;

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
        { "escaped lone high surrogate as a name", File("{" + Entry("\\ud800", "F32", "[1]", "[0,4]") + "}", 4), "escape \\ud800, an unpaired UTF-16 surrogate" },
        { "escaped lone low surrogate in a name", File("{" + Entry("bn\\uDC00.weight", "F32", "[1]", "[0,4]") + "}", 4), "escape \\uDC00, an unpaired UTF-16 surrogate (byte 4 " },
        { "high surrogate then a letter", File("{\"__metadata__\":{\"k\":\"\\ud83d\\u0041\"}}", 0), "escape \\ud83d, an unpaired" },
        { "two high surrogates", File("{\"__metadata__\":{\"k\":\"\\ud83d\\ud83d\\ude00\"}}", 0), "escape \\ud83d, an unpaired UTF-16 surrogate (byte 22 " },
        { "high surrogate ending a metadata key", File("{\"__metadata__\":{\"k\\ud800\":\"v\"}}", 0), "escape \\ud800, an unpaired" },
        { "lone surrogate in a dtype", File("{" + Entry("a", "F32\\udfff", "[1]", "[0,4]") + "}", 4), "escape \\udfff, an unpaired" },
    };

    [Theory]
    [MemberData(nameof(Malicious))]
    public void MaliciousFile_ThrowsTheDocumentedExceptionNamingTheProblem(string description, byte[] file, string expected)
    {
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(file));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{description}: message was '{e.Message}'");
    }

    /// <summary>Tensor-name prefixes of the files to mutate: ASCII, accented, CJK and an emoji (a surrogate pair in UTF-16).</summary>
    private static readonly string[][] LayerNames = [["bn1", "layer1.0.bn2"], ["blöck.é", "层.😀norm"], ["😀", "naïve.bn"]];

    /// <summary>
    /// A valid file with several tensors of every loaded type and metadata, to mutate. Seeds cycle through three layouts:
    /// ASCII names; non-ASCII names as NormSharp writes them (escaped, <c>\uD83D\uDE00</c>); the same names as raw UTF-8,
    /// as Python's safetensors writes them.
    /// </summary>
    private static byte[] ValidFile(int seed)
    {
        var random = new Random(seed);
        int channels = random.Next(1, 9);
        var state = new StateDict(2);
        foreach (string layer in LayerNames[seed % 3 == 0 ? 0 : 1 + seed / 3 % 2])
        {
            state[$"{layer}.weight"] = StateTensor.FromSingles(Enumerable.Range(0, channels).Select(_ => (float)random.NextDouble()).ToArray(), channels);
            state[$"{layer}.bias"] = StateTensor.FromDoubles(Enumerable.Range(0, channels).Select(_ => random.NextDouble()).ToArray(), channels);
            state[$"{layer}.running_var"] = StateTensor.FromStored(StateDType.Float16, [channels], Enumerable.Range(0, channels).Select(_ => 1f).ToArray());
            state[$"{layer}.running_mean"] = StateTensor.FromStored(StateDType.BFloat16, [channels], new float[channels]);
            state[$"{layer}.num_batches_tracked"] = StateTensor.Scalar(random.Next());
        }

        byte[] file = SafeTensors.Serialize(state, new Dictionary<string, string> { ["source"] = seed % 3 == 0 ? "fuzz" : "fuzz 🎲 é" });
        return seed % 3 == 2 ? WithRawUtf8Header(file) : file;
    }

    /// <summary>The same file with the header's non-ASCII escapes written as raw UTF-8 (the length prefix updated).</summary>
    private static byte[] WithRawUtf8Header(byte[] file)
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = Encoding.UTF8.GetString(file, 8, headerLength);
        string raw = System.Text.RegularExpressions.Regex.Replace(header, @"\\u([0-9A-Fa-f]{4})", m =>
        {
            int unit = Convert.ToInt32(m.Groups[1].Value, 16);
            return unit < 0x80 ? m.Value : ((char)unit).ToString();
        });
        byte[] json = Encoding.UTF8.GetBytes(raw);
        var result = new byte[8 + json.Length + file.Length - 8 - headerLength];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)json.Length);
        json.CopyTo(result, 8);
        file.AsSpan(8 + headerLength).CopyTo(result.AsSpan(8 + json.Length));
        return result;
    }

    private enum Mutation { FlipBit, SetByte, Truncate, Extend, SetHeaderLength, ReplaceDigit, InsertText, DeleteRange, CorruptEscape }

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
                        string[] texts = ["{", "}", "[", "]", ",", "\"", ":", "\"a\":1", "null", "\"__metadata__\"", "\\u0000", "\"dtype\":\"F32\"",
                                          "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\ud83d", "\\\\", "\\", "😀", "é", "\u001b[31m"];
                        bytes.InsertRange(Math.Min(at, bytes.Count), Encoding.UTF8.GetBytes(texts[value % texts.Length]));
                        break;
                    case Mutation.CorruptEscape:
                        // The next \uXXXX escape gets one hex digit changed (or cut short), breaking or re-pairing a surrogate.
                        int escape = bytes.FindIndex(Math.Min(at, bytes.Count), b => b == (byte)'\\');
                        if (escape < 0) escape = bytes.FindIndex(b => b == (byte)'\\');
                        if (escape >= 0 && escape + 5 < bytes.Count)
                        {
                            if (value % 16 == 15) bytes.RemoveRange(escape + 2, Math.Min(value % 4 + 1, bytes.Count - escape - 2));
                            else bytes[escape + 2 + value % 4] = (byte)"0123456789abcdefABCDEFxz\"\\"[value % 26];
                        }

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

    /// <summary>What a read gave: the tensor names, or the rejection's message.</summary>
    private sealed record Outcome(string[]? Keys, string? Error);

    private static Outcome ReadMeasured(byte[] file, Func<SafeTensorsFile> read)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Outcome outcome;
        try
        {
            SafeTensorsFile result = read();
            outcome = new Outcome([.. result.Tensors.Keys], null);
            // Whatever was accepted must be usable: it writes back and reads again to the same tensors.
            SafeTensorsFile again = SafeTensors.Read(SafeTensors.Serialize(result.Tensors));
            Assert.Equal(result.Tensors.Keys, again.Tensors.Keys);
        }
        catch (SafeTensorsException e)
        {
            outcome = new Outcome(null, e.Message);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64L * file.Length + (1 << 20), $"{allocated} bytes allocated for a {file.Length}-byte file");
        return outcome;
    }

    [Fact]
    public void MutatedAndTruncatedFiles_OnlyTheDocumentedExceptionEscapes_AndMemoryStaysNearTheFileSize()
    {
        int accepted = 0, rejected = 0;
        Cases.Sample(c =>
        {
            byte[] file = c.Apply();
            Outcome fromMemory = ReadMeasured(file, () => SafeTensors.Read(file));
            Outcome fromFileStream = ReadMeasured(file, () => SafeTensors.Read(new MemoryStream(file, writable: false)));
            Outcome fromPipe = ReadMeasured(file, () => SafeTensors.Read(new PipeLikeStream(file, chunk: 1 + c.Values[0] % 97)));

            // The three readers agree: the seekable stream word for word, the pipe (which learns the length only at the end)
            // on the verdict.
            Assert.Equal(fromMemory.Error, fromFileStream.Error);
            Assert.Equal(fromMemory.Keys, fromFileStream.Keys);
            Assert.Equal(fromMemory.Keys, fromPipe.Keys);
            Assert.Equal(fromMemory.Error is null, fromPipe.Error is null);
            if (fromMemory.Error is null) accepted++;
            else rejected++;
        }, iter: FuzzCases, threads: 1);
        Assert.Equal(FuzzCases, accepted + rejected);
        Assert.True(rejected > FuzzCases / 2, $"only {rejected} of {FuzzCases} mutated files were rejected");
        Assert.True(accepted > FuzzCases / 50, $"only {accepted} of {FuzzCases} mutated files were accepted: the mutations are too blunt");
    }

    [Theory]
    [InlineData(1)] // NormSharp's layout: the emoji escaped as a surrogate pair
    [InlineData(2)] // Python's layout: the emoji as raw UTF-8
    public void FileWithAnEmojiName_EveryOneBitFlipOfItsHeader_OnlyTheDocumentedExceptionEscapes(int seed)
    {
        byte[] valid = ValidFile(seed);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        int flips = 0, surrogateErrors = 0;
        for (int bit = 0; bit < 8 * headerEnd; bit++)
        {
            byte[] file = (byte[])valid.Clone();
            file[bit / 8] ^= (byte)(1 << (bit % 8));
            Outcome outcome = ReadMeasured(file, () => SafeTensors.Read(file));
            flips++;
            if (outcome.Error?.Contains("unpaired UTF-16 surrogate", StringComparison.Ordinal) == true) surrogateErrors++;
        }

        Assert.Equal(8 * headerEnd, flips);
        if (seed == 1) Assert.True(surrogateErrors > 0, "no flip broke the emoji's surrogate pair");
    }

    [Fact]
    public void EscapedNonSurrogatesAndValidPairs_AreAccepted()
    {
        // \\ud800 is a backslash and the letters "ud800", not an escape; \ud83d\ude00 is the pair for U+1F600.
        byte[] file = File("{" + Entry("a\\\\ud800", "F32", "[1]", "[0,4]") + "," + Entry("\\ud83d\\ude00\\u00e9", "F32", "[1]", "[4,8]") + "}", 8);
        SafeTensorsFile read = SafeTensors.Read(file);
        Assert.Equal(["a\\ud800", "😀é"], read.Tensors.Keys);
    }

    [Fact]
    public void EndlessZeroStream_FailsAtOnceWithBoundedMemory()
    {
        var zeros = new PipeLikeStream([], endless: true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(zeros));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal); // a header length of 0: an empty header
        Assert.True(zeros.Delivered <= FirstChunkBound, $"{zeros.Delivered} bytes read");
        Assert.True(allocated < 2 << 20, $"{allocated} bytes allocated");
    }

    /// <summary>The most a stream of unknown length is read ahead before a check can fail (the reader's first chunk).</summary>
    private const int FirstChunkBound = 1 << 16;

    [Theory]
    [InlineData(ulong.MaxValue, "exceeds the limit")]
    [InlineData(100_000_001UL, "exceeds the limit")]
    [InlineData(99_999_999UL, "exceeds the 100 bytes that follow it")]
    public void HugeClaimedHeaderLength_OnAStreamOfUnknownLength_FailsWithoutAllocatingTheClaim(ulong claimed, string expected)
    {
        var prefix = new byte[108];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, claimed);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(new PipeLikeStream(prefix, chunk: 7)));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.True(allocated < 2 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void HugeClaimedTensor_OnAStreamThatEndsEarly_FailsAsTruncatedWithoutAllocatingTheClaim()
    {
        byte[] file = File("{" + Entry("a", "U8", "[2000000000]", "[0,2000000000]") + "}", 1000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(new PipeLikeStream(file, chunk: 4096)));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal("the file is truncated: its tensors need 2000000000 bytes of data, it ends after 1000.", e.Message);
        Assert.True(allocated < 2 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void StreamThatGoesOnPastItsTensors_IsRejected_AfterReadingOneByteMore()
    {
        byte[] valid = ValidFile(0);
        var endless = new PipeLikeStream(valid, chunk: 1000, endless: true);
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(endless));
        int covered = valid.Length - 8 - (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        Assert.Equal($"the data buffer has more than {covered} bytes but the tensors cover {covered}.", e.Message);
        Assert.Equal(valid.Length + 1, endless.Delivered);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(int.MaxValue)]
    public void ValidFile_ReadFromAPipeInChunks_EqualsTheFileReadFromMemory(int chunk)
    {
        byte[] file = ValidFile(2);
        SafeTensorsFile expected = SafeTensors.Read(file);
        SafeTensorsFile piped = SafeTensors.Read(new PipeLikeStream(file, chunk));
        Assert.Equal(expected.Tensors.Keys, piped.Tensors.Keys);
        Assert.Equal(expected.Metadata, piped.Metadata);
        foreach (string key in expected.Tensors.Keys) Assert.Equal(expected.Tensors[key].ToDoubles(), piped.Tensors[key].ToDoubles());
    }
}
