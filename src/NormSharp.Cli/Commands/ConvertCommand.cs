using System.CommandLine;
using System.Globalization;
using NormSharp.Cli.Inspection;
using NormSharp.Cli.Rendering;
using NormSharp.Serialization;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>convert INPUT OUTPUT</c>: a checkpoint (torch.save, or safetensors) written as a safetensors file, atomically (the
/// old OUTPUT stays whole until the new one is complete), then one line saying what was written: how many tensors of
/// which dtypes, and the bytes. A torch.save file is read with the weights-only reader: a file that asks for any other
/// global (<c>os.system</c>, ...) is refused and nothing runs. A file that cannot be read or written is one line on the
/// error output and exit code 1; an empty path, or OUTPUT the same file as INPUT, is a usage error (2).
/// </summary>
public static class ConvertCommand
{
    /// <summary>Builds the command; output goes to <paramref name="output"/>, errors to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var input = new Argument<string>("INPUT") { Description = "The checkpoint to convert: torch.save (.pt, .pth) or safetensors." };
        var target = new Argument<string>("OUTPUT") { Description = "The safetensors file to write (replaced atomically if it exists)." };
        var entry = new Option<string?>("--entry") { Description = "For a torch.save training checkpoint: the key of the entry that holds the state dict (e.g. model)." };
        var command = new Command("convert", "Convert a PyTorch checkpoint (torch.save) to safetensors, reading it without running any of its code.")
        {
            input, target, entry,
        };
        command.SetAction(parse =>
        {
            string source = parse.GetValue(input)!, destination = parse.GetValue(target)!;
            if (source.Length == 0 || destination.Length == 0)
                return CliError.Write(error, "INPUT and OUTPUT must not be empty; give the checkpoint to read and the safetensors file to write.", ExitCodes.Usage);
            if (string.Equals(Path.GetFullPath(source), Path.GetFullPath(destination), StringComparison.Ordinal))
                return CliError.Write(error, "OUTPUT is INPUT; write the safetensors file somewhere else.", ExitCodes.Usage);

            LoadedCheckpoint checkpoint;
            try
            {
                checkpoint = CheckpointLoader.Load(source, parse.GetValue(entry));
            }
            catch (CheckpointLoadException e)
            {
                return CliError.Write(error, $"{source}: {e.Message}", ExitCodes.Failure);
            }

            string? unnamed = checkpoint.Tensors.Keys.FirstOrDefault(k => k.Length == 0 || k == "__metadata__");
            if (unnamed is not null)
                return CliError.Write(error, $"{source}: tensor \"{unnamed}\" cannot be named so in a safetensors file.", ExitCodes.Failure);
            long bytes;
            try
            {
                SafeTensors.WriteFile(destination, checkpoint.Tensors);
                bytes = new FileInfo(destination).Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return CliError.Write(error, $"{destination}: {e.Message}", ExitCodes.Failure);
            }

            output.WriteLine(Summary(source, destination, checkpoint, bytes));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>"a.pt (torch.save) -> a.safetensors: 52 tensors (45 F32, 7 I64), 39,424 bytes", with the tensors of dtypes
    /// not loaded (left out) counted after.</summary>
    private static string Summary(string source, string destination, LoadedCheckpoint checkpoint, long bytes)
    {
        string dtypes = string.Join(", ", checkpoint.Tensors.GroupBy(t => t.Value.DType).Select(g => $"{g.Count()} {DTypeName(g.Key)}"));
        string line = $"{TerminalText.OneLine(source)} ({CheckpointFormats.Describe(checkpoint.Format)}) -> {TerminalText.OneLine(destination)}: " +
                      $"{checkpoint.Tensors.Count} tensor(s){(dtypes.Length > 0 ? $" ({dtypes})" : "")}, " +
                      $"{bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes";
        if (checkpoint.Skipped.Count > 0)
        {
            line += $"; left out {checkpoint.Skipped.Count} tensor(s) of dtypes NormSharp does not load: " +
                    string.Join(", ", checkpoint.Skipped.Take(5).Select(s => $"{TerminalText.OneLine(s.Name)} ({s.DType})")) +
                    (checkpoint.Skipped.Count > 5 ? ", ..." : "");
        }

        return line;
    }

    private static string DTypeName(StateDType dtype) => dtype switch
    {
        StateDType.Float32 => "F32",
        StateDType.Float64 => "F64",
        StateDType.Float16 => "F16",
        StateDType.BFloat16 => "BF16",
        _ => "I64",
    };
}
