namespace NormSharp.PyTorch;

/// <summary>Names from a file as messages quote them: in double quotes, cut after <see cref="MaxLength"/> characters, so
/// that a hostile file's megabyte-long name cannot make a megabyte-long message.</summary>
internal static class Quoting
{
    public const int MaxLength = 120;

    public static string Quote(object? value)
    {
        string text = value?.ToString() ?? "None";
        return text.Length <= MaxLength ? $"\"{text}\"" : $"\"{text[..MaxLength]}...\" ({text.Length:N0} characters)";
    }
}
