using System.Diagnostics;
using TrainWithBatchNorm;

// dotnet run --project samples/TrainWithBatchNorm [-- epochs] [--save checkpoint.safetensors] [--recalibrate]
int epochs = args.Length > 0 && int.TryParse(args[0], out int e) && e > 0 ? e : 30;
int saveAt = Array.IndexOf(args, "--save");
string? savePath = saveAt >= 0 && saveAt + 1 < args.Length ? args[saveAt + 1] : null;
var clock = Stopwatch.StartNew();
SpiralTraining.Report report = SpiralTraining.Run(new SpiralTraining.Options(Epochs: epochs), Console.Out);
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F1} s; final eval accuracy {report.Epochs[^1].EvalAccuracy:P1}.");
if (args.Contains("--recalibrate"))
{
    Console.WriteLine();
    RecalibrationDemo.Run(report.Network, Console.Out);
}

if (savePath is not null)
{
    report.Network.NormLayers.SaveSafeTensors(savePath);
    Console.WriteLine($"Saved the BatchNorm layers' state to {savePath} (keys 1.weight, ..., 4.num_batches_tracked).");
}

return report.Epochs[^1].EvalAccuracy >= 0.95 ? 0 : 1;
