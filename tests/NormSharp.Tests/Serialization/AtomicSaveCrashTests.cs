using System.Diagnostics;
using NormSharp.Serialization;

namespace NormSharp.Tests.Serialization;

/// <summary>
/// A process killed in the middle of saving leaves a readable checkpoint: a child process saves two versions of an
/// 8 MB checkpoint in turn and is killed at random moments; the file must always be one whole version.
/// </summary>
public class AtomicSaveCrashTests : IDisposable
{
    private const int Kills = 8;
    private readonly string folder = Directory.CreateTempSubdirectory("normsharp-crash-").FullName;

    public void Dispose()
    {
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void KillingTheSavingProcessAtRandomMoments_AlwaysLeavesOneWholeVersion()
    {
        string path = Path.Combine(folder, "model.safetensors");
        SafeTensors.WriteFile(path, new StateDict { ["bn.weight"] = StateTensor.FromSingles([5f], 1), ["bn.num_batches_tracked"] = StateTensor.Scalar(5) });
        string helper = Path.Combine(AppContext.BaseDirectory, "NormSharp.SaveCrashHelper.dll");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var random = new Random(20261128);
        for (int kill = 0; kill < Kills; kill++)
        {
            using var process = Process.Start(new ProcessStartInfo(dotnet, [helper, path]) { RedirectStandardOutput = true, UseShellExecute = false })!;
            Assert.Equal("saving", process.StandardOutput.ReadLine());
            Assert.Equal("saved", process.StandardOutput.ReadLine()); // one whole save done; the kill lands in a later one
            Thread.Sleep(random.Next(0, 150));
            process.Kill(entireProcessTree: true);
            process.WaitForExit();

            SafeTensorsFile file = SafeTensors.ReadFile(path);
            long version = file.Tensors["bn.num_batches_tracked"].ToInt64s()[0];
            double[] weight = file.Tensors["bn.weight"].ToDoubles();
            Assert.All(weight, w => Assert.Equal(version, w));
            Assert.Contains(version, new[] { 0L, 1L });
        }
    }
}
