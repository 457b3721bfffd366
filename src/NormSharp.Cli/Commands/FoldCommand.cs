using System.CommandLine;
using System.Globalization;
using NormSharp.Cli.Folding;
using NormSharp.Cli.Inspection;
using NormSharp.Cli.Rendering;
using NormSharp.Serialization;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>fold INPUT OUTPUT --pair WEIGHT=NORM ... [--auto]</c>: folds evaluation-mode BatchNorm layers of a checkpoint
/// (safetensors or torch.save) into the linear layers and convolutions before them (<see cref="NormSharp.Folding"/>), removes
/// the folded layers' tensors, writes the result as safetensors (atomically), and prints each pair with its check. Every
/// pair is folded before anything is written: a refused pair (training statistics never updated, non-finite or negative
/// running_var, shapes that do not fit) is one line on the error output, exit code 1, and no file. A malformed
/// <c>--pair</c>, no pair at all, or OUTPUT the same file as INPUT is a usage error (2).
/// </summary>
public static class FoldCommand
{
    /// <summary>Builds the command; output goes to <paramref name="output"/>, errors to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var input = new Argument<string>("INPUT") { Description = "The checkpoint: safetensors or torch.save (.pt, .pth)." };
        var target = new Argument<string>("OUTPUT") { Description = "The safetensors file to write (replaced atomically if it exists)." };
        var pairs = new Option<string[]>("--pair")
        {
            Description = $"Fold a normalization layer into the layer before it: {FoldPair.Syntax}, e.g. conv1.weight=bn1 or " +
                          "up.weight=bn2,transposed,groups=2 (a transposed convolution's output channels are dim 1). Repeatable.",
            AllowMultipleArgumentsPerToken = true,
        };
        var auto = new Option<bool>("--auto") { Description = "Also pair every other normalization layer by ResNet's names: PARENT.bnK after PARENT.convK.weight, PARENT.K after PARENT.(K-1).weight." };
        var eps = new Option<double>("--eps") { Description = "The normalization layers' eps (a checkpoint does not hold it; default 1e-05, PyTorch's).", DefaultValueFactory = _ => 1e-5 };
        var force = new Option<bool>("--force") { Description = "Fold layers whose num_batches_tracked is 0 too (statistics set on purpose, not by training)." };
        var entry = new Option<string?>("--entry") { Description = "For a torch.save training checkpoint: the key of the entry that holds the state dict (e.g. model)." };
        var command = new Command("fold", "Fold evaluation-mode BatchNorm layers of a checkpoint into the convolutions and linear layers before them, checking each fold.")
        {
            input, target, pairs, auto, eps, force, entry,
        };
        command.SetAction(parse =>
        {
            string source = parse.GetValue(input)!, destination = parse.GetValue(target)!;
            if (source.Length == 0 || destination.Length == 0)
                return CliError.Write(error, "INPUT and OUTPUT must not be empty; give the checkpoint to read and the safetensors file to write.", ExitCodes.Usage);
            if (string.Equals(Path.GetFullPath(source), Path.GetFullPath(destination), StringComparison.Ordinal))
                return CliError.Write(error, "OUTPUT is INPUT; write the folded checkpoint somewhere else.", ExitCodes.Usage);
            double defaultEps = parse.GetValue(eps);
            if (!(defaultEps >= 0) || !double.IsFinite(defaultEps))
                return CliError.Write(error, string.Create(CultureInfo.InvariantCulture, $"--eps must be a finite number from 0, not {defaultEps}."), ExitCodes.Usage);

            var requested = new List<FoldPair>();
            try
            {
                requested.AddRange((parse.GetValue(pairs) ?? []).Select(FoldPair.Parse));
            }
            catch (FormatException e)
            {
                return CliError.Write(error, e.Message, ExitCodes.Usage);
            }

            bool automatic = parse.GetValue(auto);
            if (requested.Count == 0 && !automatic)
                return CliError.Write(error, $"nothing to fold: give --pair {FoldPair.Syntax} (repeatable), or --auto.", ExitCodes.Usage);

            LoadedCheckpoint checkpoint;
            try
            {
                checkpoint = CheckpointLoader.Load(source, parse.GetValue(entry));
            }
            catch (CheckpointLoadException e)
            {
                return CliError.Write(error, $"{source}: {e.Message}", ExitCodes.Failure);
            }

            IReadOnlyList<string> unpaired = [];
            if (automatic)
            {
                (IReadOnlyList<FoldPair> found, unpaired) = PairFinder.Find(checkpoint.Tensors, requested.Select(p => p.NormPrefix).ToHashSet(StringComparer.Ordinal));
                requested.AddRange(found);
            }

            StateDict folded;
            IReadOnlyList<FoldedPair> results;
            IReadOnlyList<string> removed;
            try
            {
                (folded, results, removed) = CheckpointFolding.Fold(checkpoint.Tensors, requested, defaultEps, parse.GetValue(force));
            }
            catch (FoldRefusedException e)
            {
                return CliError.Write(error, $"{source}: {e.Message} Nothing was written.", ExitCodes.Failure);
            }

            long bytes;
            try
            {
                SafeTensors.WriteFile(destination, folded);
                bytes = new FileInfo(destination).Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return CliError.Write(error, $"{destination}: {e.Message}", ExitCodes.Failure);
            }

            string summary = string.Create(CultureInfo.InvariantCulture,
                $"{TerminalText.OneLine(source)} ({CheckpointFormats.Describe(checkpoint.Format)}) -> {TerminalText.OneLine(destination)}: ") +
                string.Create(CultureInfo.InvariantCulture,
                $"{results.Count} pair(s) folded, {removed.Count} normalization tensor(s) removed, {folded.Count} tensor(s) written, {bytes:N0} bytes");
            ConsoleFactory.Render(output, OutputWidth.From(parse), console => FoldRenderer.Write(console, summary, results, unpaired));
            return ExitCodes.Success;
        });
        return command;
    }
}
