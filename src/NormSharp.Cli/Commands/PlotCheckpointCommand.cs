using System.CommandLine;
using NormSharp.Cli.Inspection;
using NormSharp.Cli.Plotting;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>plot checkpoint FILE</c>: the normalization layers of a checkpoint (safetensors or torch.save, read by
/// <see cref="CheckpointLoader"/>), their per-channel running statistics and weights, with what inspect flags marked
/// (<see cref="CheckpointChart"/>). A file that cannot be read, or holds no normalization layer, is one line on the error
/// output and exit code 1; an empty FILE is a usage error (2).
/// </summary>
public static class PlotCheckpointCommand
{
    /// <summary>Builds the command; errors go to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Argument<string>("FILE") { Description = "A checkpoint: safetensors or torch.save (.pt, .pth)." };
        var entry = new Option<string?>("--entry") { Description = "For a torch.save training checkpoint: the key of the entry that holds the state dict (e.g. model)." };
        var outputs = new PlotOutputOptions();
        var command = new Command("checkpoint", "Plot the running statistics and weights of a checkpoint's normalization layers, per channel, with anomalies marked.")
        {
            file, entry,
        };
        outputs.AddTo(command);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            if (path.Length == 0) return CliError.Write(error, "FILE is empty; give the path of a checkpoint.", ExitCodes.Usage);
            PlotRequest? request = outputs.Resolve(parse, out string? usage);
            if (request is null) return CliError.Write(error, usage!, ExitCodes.Usage);
            LoadedCheckpoint checkpoint;
            try
            {
                checkpoint = CheckpointLoader.Load(path, parse.GetValue(entry));
            }
            catch (CheckpointLoadException e)
            {
                return CliError.Write(error, $"{path}: {e.Message}", ExitCodes.Failure);
            }

            IReadOnlyList<CheckpointLayerValues> layers = CheckpointLayerValues.From(checkpoint.Tensors);
            if (layers.Count == 0)
                return CliError.Write(error, $"{path}: no normalization layers (no key ends in running_mean, running_var or num_batches_tracked among its {checkpoint.Tensors.Count} tensor(s)); nothing to plot.", ExitCodes.Failure);
            return PlotCommand.Write(request, CheckpointChart.Create(Path.GetFileName(path), layers), CheckpointChart.ToCsv(layers), output, error);
        });
        return command;
    }
}
