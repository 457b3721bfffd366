using System.CommandLine;
using System.Text.Json;
using NormSharp.Cli.Inspection;
using NormSharp.Cli.Rendering;
using NormSharp.Serialization;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>inspect FILE</c>: the normalization layers of a safetensors checkpoint (name, C, dtype, counter, running statistics
/// summarized) with anomalies flagged. A file that cannot be read, or is not valid safetensors, is one line on the error
/// output and exit code 1.
/// </summary>
public static class InspectCommand
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>Builds the command; output goes to <paramref name="output"/>, errors to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Argument<string>("FILE") { Description = "A safetensors checkpoint." };
        var json = new Option<bool>("--json") { Description = "Print the layers as JSON." };
        var command = new Command("inspect", "List the normalization layers of a safetensors checkpoint and flag anomalies " +
                                             "(running_var <= 0 or NaN, a counter of 0, near-zero weights).")
        {
            file, json,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            SafeTensorsFile checkpoint;
            try
            {
                checkpoint = SafeTensors.ReadFile(path);
            }
            catch (Exception e) when (e is SafeTensorsException or IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"error: {path}: {OneLine(e.Message)}");
                return ExitCodes.Failure;
            }

            IReadOnlyList<NormLayerReport> layers = CheckpointInspection.Inspect(checkpoint);
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(layers, Json));
            else ConsoleFactory.Render(output, console => InspectRenderer.Write(console, path, layers, checkpoint.Tensors.Count, checkpoint.Skipped.Count));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
