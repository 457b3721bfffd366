using System.Buffers.Binary;
using System.Text;
using NormSharp.Serialization;

namespace NormSharp.Tests.Serialization;

/// <summary>The safetensors layout: what NormSharp writes, and that it reads files laid out as the format defines.</summary>
public class SafeTensorsFormatTests
{
    /// <summary>A file built by hand from the format's definition (no metadata, tensors in reverse offset order).</summary>
    private static byte[] HandWritten()
    {
        string header = "{\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan(8 + json.Length), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan(12 + json.Length), -2f);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(16 + json.Length), 42);
        return file;
    }

    [Fact]
    public void Read_AFileBuiltFromTheFormatDefinition()
    {
        SafeTensorsFile file = SafeTensors.Read(HandWritten());
        Assert.Equal(["b", "a"], file.Tensors.Keys);
        Assert.Equal(StateDType.Float32, file.Tensors["a"].DType);
        Assert.Equal([1.5, -2.0], file.Tensors["a"].ToDoubles());
        Assert.Equal([42L], file.Tensors["b"].ToInt64s());
        Assert.Empty(file.Tensors["b"].Shape);
        Assert.Empty(file.Metadata);
    }

    [Fact]
    public void Write_HeaderIsPaddedTo8Bytes_MetadataFirst_OffsetsBackToBack()
    {
        var state = new StateDict(2)
        {
            ["x.weight"] = StateTensor.FromSingles([1f, 2f, 3f], 3),
            ["x.num_batches_tracked"] = StateTensor.Scalar(7),
        };
        byte[] bytes = SafeTensors.Serialize(state, new Dictionary<string, string> { ["note"] = "hi" });
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, headerLength % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"hi\"},\"x.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}," +
                          "\"x.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[12,20]}}", header);
        Assert.Equal(8 + (int)headerLength + 20, bytes.Length);

        SafeTensorsFile back = SafeTensors.Read(bytes);
        Assert.Equal("hi", back.Metadata["note"]);
        Assert.Equal([1.0, 2, 3], back.Tensors["x.weight"].ToDoubles());
        Assert.Equal([7L], back.Tensors["x.num_batches_tracked"].ToInt64s());
    }

    [Fact]
    public void RoundTrip_KeepsEveryTypeBitExact()
    {
        var state = new StateDict
        {
            ["f32"] = StateTensor.FromSingles([float.MaxValue, float.Epsilon, -0f, float.NaN], 2, 2),
            ["f64"] = StateTensor.FromDoubles([Math.PI, double.NegativeInfinity], 2),
            ["i64"] = StateTensor.FromInt64s([long.MinValue, long.MaxValue], 2),
            ["empty"] = StateTensor.FromSingles([], 0, 3),
        };
        SafeTensorsFile back = SafeTensors.Read(SafeTensors.Serialize(state));
        foreach (string key in state.Keys)
        {
            Assert.Equal(state[key].DType, back.Tensors[key].DType);
            Assert.Equal(state[key].Shape, back.Tensors[key].Shape);
            Assert.Equal(state[key].ToDoubles(), back.Tensors[key].ToDoubles());
        }
    }

    [Fact]
    public void HalfAndBFloat16_AreReadExactly_AndConvertedToTheModulesType()
    {
        var state = new StateDict
        {
            ["weight"] = StateTensor.FromStored(StateDType.Float16, [3], new float[] { 0.5f, -1.25f, 65504f }),
            ["bias"] = StateTensor.FromStored(StateDType.BFloat16, [3], new float[] { 1f, 3.140625f, -0.0078125f }),
        };
        SafeTensorsFile back = SafeTensors.Read(SafeTensors.Serialize(state));
        Assert.Equal(StateDType.Float16, back.Tensors["weight"].DType);
        Assert.Equal(StateDType.BFloat16, back.Tensors["bias"].DType);

        var layer = new BatchNorm1d<double>(3, trackRunningStats: false);
        layer.LoadStateDict(back.Tensors);
        Assert.Equal([0.5, -1.25, 65504], TestData.Values(layer.Weight!.Data));
        Assert.Equal([1, 3.140625, -0.0078125], TestData.Values(layer.Bias!.Data));
    }

    [Fact]
    public void BFloat16_IsWrittenRoundingToNearestEven()
    {
        // 1 + 2^-8 lies halfway between two bfloat16 values: ties go to the even one, 1.0.
        var state = new StateDict { ["v"] = StateTensor.FromStored(StateDType.BFloat16, [2], new float[] { 1f + 1f / 256, 1f + 3f / 256 }) };
        double[] values = SafeTensors.Read(SafeTensors.Serialize(state)).Tensors["v"].ToDoubles();
        Assert.Equal([1.0, 1 + 4.0 / 256], values);
    }

    [Fact]
    public void OtherDTypes_AreValidatedAndListedAsSkipped()
    {
        string header = "{\"ids\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        SafeTensorsFile read = SafeTensors.Read(file);
        Assert.Equal(["w"], read.Tensors.Keys);
        SkippedTensor skipped = Assert.Single(read.Skipped);
        Assert.Equal(("ids", "I32"), (skipped.Name, skipped.DType));
    }

    [Fact]
    public void HalfPrecisionCheckpoints_AreWrittenFromAStateDict_CountersStayInt64()
    {
        var layer = new BatchNorm1d(3);
        layer.Forward(TestData.Random(1, 8, 3));
        layer.Weight!.Data[0] = 1.0009765625f + 1e-4f; // between two half values
        foreach (StateDType dtype in new[] { StateDType.Float16, StateDType.BFloat16 })
        {
            StateDict half = layer.StateDict().ToFloatingType(dtype);
            SafeTensorsFile file = SafeTensors.Read(SafeTensors.Serialize(half));
            Assert.Equal(dtype, file.Tensors["running_var"].DType);
            Assert.Equal(StateDType.Int64, file.Tensors["num_batches_tracked"].DType);
            double[] expected = TestData.Values(layer.RunningVar!).Select(v => dtype == StateDType.Float16
                ? (double)(float)(Half)v
                : (double)BFloat16.Round((float)v)).ToArray();
            Assert.Equal(expected, file.Tensors["running_var"].ToDoubles());

            var copy = new BatchNorm1d(3);
            copy.LoadStateDict(file.Tensors);
            Assert.Equal(expected, TestData.Values(copy.RunningVar!));
            Assert.Equal(1L, copy.NumBatchesTracked);
        }

        Assert.Throws<ArgumentException>(() => layer.StateDict().ToFloatingType(StateDType.Int64));
    }

    [Fact]
    public void NonAsciiAndEmojiNames_RoundTrip()
    {
        var state = new StateDict { ["层.😀norm.weight"] = StateTensor.FromSingles([1f], 1), ["blöck.é"] = StateTensor.Scalar(3) };
        SafeTensorsFile back = SafeTensors.Read(SafeTensors.Serialize(state, new Dictionary<string, string> { ["note"] = "🎲" }));
        Assert.Equal(["层.😀norm.weight", "blöck.é"], back.Tensors.Keys);
        Assert.Equal("🎲", back.Metadata["note"]);
    }

    [Theory]
    [InlineData("bn\\ud800.weight")]
    [InlineData("\\udc00")]
    [InlineData("end\\ud83d")]
    public void Write_NameOrMetadataWithAnUnpairedSurrogate_IsRefusedInsteadOfSavedUnderAnotherName(string escaped)
    {
        string name = System.Text.RegularExpressions.Regex.Unescape(escaped);
        var state = new StateDict { [name] = StateTensor.FromSingles([1f], 1) };
        var e = Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(state));
        Assert.Contains("unpaired UTF-16 surrogate", e.Message, StringComparison.Ordinal);
        var metadata = new Dictionary<string, string> { ["note"] = name };
        Assert.Throws<ArgumentException>(() => SafeTensors.Serialize(new StateDict { ["w"] = StateTensor.FromSingles([1f], 1) }, metadata));
    }
}
