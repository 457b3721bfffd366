using TorchSharp;
using Xunit.Sdk;

namespace NormSharp.Oracle.Tests;

/// <summary>Shared by every oracle test: libtorch on one thread (its reductions then do not depend on the
/// thread count), and the worst-error report printed when the suite ends.</summary>
public sealed class OracleFixture : IDisposable
{
    private readonly IMessageSink sink;

    public OracleFixture(IMessageSink sink)
    {
        this.sink = sink;
        torch.set_num_threads(1);
    }

    public void Dispose()
    {
        string summary = OracleReport.Shared.Summary();
        sink.OnMessage(new DiagnosticMessage(summary));
        Console.WriteLine(summary);
        File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "oracle-report.txt"), summary + Environment.NewLine);
    }
}

[CollectionDefinition(Name)]
public sealed class OracleTestGroup : ICollectionFixture<OracleFixture>
{
    public const string Name = "libtorch oracle";
}
