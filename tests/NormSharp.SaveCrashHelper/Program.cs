using NormSharp;
using NormSharp.Serialization;

// A child process for the crash test (AtomicSaveCrashTests): saves two versions of a large checkpoint in turn, forever,
// until the test kills it. Usage: NormSharp.SaveCrashHelper PATH
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: NormSharp.SaveCrashHelper PATH");
    return 2;
}

const int Values = 1 << 21; // 8 MB of float32 per version
StateDict[] versions = [Version(0f), Version(1f)];
Console.WriteLine("saving");
Console.Out.Flush();
for (long i = 0; ; i++)
{
    SafeTensors.WriteFile(args[0], versions[i % 2]);
    Console.WriteLine("saved");
    Console.Out.Flush();
}

static StateDict Version(float value) => new()
{
    ["bn.weight"] = StateTensor.FromSingles(Enumerable.Repeat(value, Values).ToArray(), Values),
    ["bn.num_batches_tracked"] = StateTensor.Scalar((long)value),
};
