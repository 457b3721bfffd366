using System.Diagnostics;
using TrainWithBatchNorm;

// dotnet run --project samples/TrainWithBatchNorm [-- epochs]
int epochs = args.Length > 0 && int.TryParse(args[0], out int e) && e > 0 ? e : 30;
var clock = Stopwatch.StartNew();
SpiralTraining.Report report = SpiralTraining.Run(new SpiralTraining.Options(Epochs: epochs), Console.Out);
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F1} s; final eval accuracy {report.Epochs[^1].EvalAccuracy:P1}.");
return report.Epochs[^1].EvalAccuracy >= 0.95 ? 0 : 1;
