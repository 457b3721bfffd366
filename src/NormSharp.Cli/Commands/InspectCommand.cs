using System.CommandLine;
using NormSharp.Cli.Inspection;
using NormSharp.Cli.Rendering;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>inspect FILE</c>: the normalization layers of a checkpoint, safetensors or torch.save (told from the first bytes; see
/// <see cref="CheckpointLoader"/>), as name, C, dtype, counter and running statistics summarized, with anomalies flagged.
/// A file that cannot be read, is of neither format (the legacy torch.save format, text, empty) or is not a regular file
/// (a directory, a FIFO, a device) is one line on the error output and exit code 1; an empty FILE is a usage error (2).
/// Names from the file are printed with control characters escaped (<c>\u001B</c>).
/// </summary>
public static class InspectCommand
{
    /// <summary>Builds the command; output goes to <paramref name="output"/>, errors to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Argument<string>("FILE") { Description = "A checkpoint: safetensors or torch.save (.pt, .pth)." };
        var json = new Option<bool>("--json") { Description = $"Print the layers as JSON ({JsonOutput.NonFiniteNumbers})." };
        var entry = new Option<string?>("--entry") { Description = "For a torch.save training checkpoint: the key of the entry that holds the state dict (e.g. model)." };
        var values = new Option<string[]>("--values")
        {
            Description = "Print the values of these tensors (full names, e.g. bn1.running_var) as PyTorch prints them, instead of the table.",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("inspect", "List the normalization layers of a checkpoint (safetensors or torch.save) and flag anomalies " +
                                             "(running_var <= 0 or NaN, a counter of 0, near-zero weights).")
        {
            file, json, entry, values,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            if (path.Length == 0) return CliError.Write(error, "FILE is empty; give the path of a checkpoint.", ExitCodes.Usage);
            LoadedCheckpoint checkpoint;
            try
            {
                checkpoint = CheckpointLoader.Load(path, parse.GetValue(entry));
            }
            catch (CheckpointLoadException e)
            {
                return CliError.Write(error, $"{path}: {e.Message}", ExitCodes.Failure);
            }

            string[] names = parse.GetValue(values) ?? [];
            if (names.Length > 0)
            {
                string? missing = names.FirstOrDefault(n => !checkpoint.Tensors.ContainsKey(n));
                if (missing is not null)
                    return CliError.Write(error, $"{path}: no tensor named \"{TerminalText.Escape(missing)}\" (inspect without --values lists the layers).", ExitCodes.Failure);
                foreach (string name in names) output.WriteLine($"{TerminalText.Escape(name)}: {checkpoint.Tensors[name]}");
                return ExitCodes.Success;
            }

            IReadOnlyList<NormLayerReport> layers = CheckpointInspection.Inspect(checkpoint.Tensors);
            if (parse.GetValue(json)) output.WriteLine(JsonOutput.Serialize(layers));
            else ConsoleFactory.Render(output, OutputWidth.From(parse), console => InspectRenderer.Write(console, path, layers, checkpoint.Tensors.Count, checkpoint.Skipped.Count));
            return ExitCodes.Success;
        });
        return command;
    }
}
