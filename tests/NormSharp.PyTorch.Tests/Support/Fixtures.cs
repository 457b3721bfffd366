using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;

namespace NormSharp.PyTorch.Tests.Support;

/// <summary>The files PyTorch 1.13 wrote (Fixtures/generate_fixtures.py) and what PyTorch read back from them
/// (Fixtures/expected.json).</summary>
internal static class Fixtures
{
    public static string Folder { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string Path(string name) => System.IO.Path.Combine(Folder, name);

    public static byte[] Bytes(string name) => File.ReadAllBytes(Path(name));

    private static readonly Lazy<JsonDocument> Document = new(() => JsonDocument.Parse(File.ReadAllText(Path("expected.json"))));

    public static JsonElement Expected => Document.Value.RootElement;

    /// <summary>The dtype names NormSharp gives PyTorch's.</summary>
    public static StateDType DTypeOf(string torchName) => torchName switch
    {
        "float32" => StateDType.Float32,
        "float64" => StateDType.Float64,
        "float16" => StateDType.Float16,
        "bfloat16" => StateDType.BFloat16,
        "int64" => StateDType.Int64,
        _ => throw new ArgumentException(torchName),
    };

    /// <summary>Checks one tensor against what PyTorch read: dtype, shape, first values, sum, and the SHA-256 of every value
    /// as little-endian float64.</summary>
    public static void AssertMatches(JsonElement expected, StateTensor actual, string what)
    {
        Assert.True(DTypeOf(expected.GetProperty("dtype").GetString()!) == actual.DType, $"{what}: dtype {actual.DType}, PyTorch {expected.GetProperty("dtype")}");
        Assert.Equal(expected.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), actual.Shape);
        double[] values = actual.ToDoubles();
        Assert.Equal(expected.GetProperty("first").EnumerateArray().Select(e => e.GetDouble()), values.Take(6));
        var bytes = new byte[8 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), values[i]);
        Assert.True(expected.GetProperty("sha256").GetString() == Convert.ToHexStringLower(SHA256.HashData(bytes)), $"{what}: the values differ from PyTorch's");
    }
}
