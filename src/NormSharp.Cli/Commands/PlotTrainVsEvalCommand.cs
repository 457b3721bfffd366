using System.CommandLine;
using NormSharp.Cli.Plotting;

namespace NormSharp.Cli.Commands;

/// <summary>
/// <c>plot train-vs-eval</c>: trains the spirals sample's network (<see cref="TrainVsEvalExperiment"/>) and draws its test
/// accuracy per epoch in train and eval mode, and the evaluation-batch-size table (<see cref="TrainVsEvalChart"/>).
/// </summary>
public static class PlotTrainVsEvalCommand
{
    /// <summary>The most epochs accepted.</summary>
    public const int MaximumEpochs = 500;

    /// <summary>Builds the command; errors go to <paramref name="error"/>.</summary>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var epochs = WholeNumberOption.Create("--epochs", 30, 1, MaximumEpochs, "Training epochs");
        var seed = new Option<int>("--seed") { Description = "Seed of the data, the weights and the shuffles (default 7, the sample's).", DefaultValueFactory = _ => 7 };
        var outputs = new PlotOutputOptions();
        var command = new Command("train-vs-eval", "Train the spirals network and plot its test accuracy in train mode and eval mode per epoch, and by evaluation batch size.")
        {
            epochs, seed,
        };
        outputs.AddTo(command);
        command.SetAction(parse =>
        {
            PlotRequest? request = outputs.Resolve(parse, out string? usage);
            if (request is null) return CliError.Write(error, usage!, ExitCodes.Usage);
            var experiment = TrainVsEvalExperiment.Run(parse.GetValue(epochs), parse.GetValue(seed));
            return PlotCommand.Write(request, TrainVsEvalChart.Create(experiment), experiment.ToCsv(), output, error);
        });
        return command;
    }
}
