using CsCheck;
using NormSharp.Oracle.Tests.Cases;

namespace NormSharp.Oracle.Tests;

/// <summary>
/// NormSharp against libtorch on random shapes, values, configurations and sequences of calls. On a
/// failure CsCheck shrinks to a small case and prints its seed and the case (config, shapes, steps).
/// </summary>
[Collection(OracleTestGroup.Name)]
public class DifferentialTests
{
    /// <summary>Random cases per CI run (each a sequence of 1 to 8 calls).</summary>
    public const int CasesPerRun = 2500;

    /// <summary>Random InstanceNorm (and LazyInstanceNorm) cases per CI run.</summary>
    public const int InstanceNormCasesPerRun = 1500;

    [Fact]
    public void RandomSequences_MatchPyTorchModuleLogicOverLibtorch_AfterEveryCall()
    {
        OracleCase.Gen.Sample(testCase => OracleRunner.Run(testCase, OracleReport.Shared), iter: CasesPerRun);
    }

    [Fact]
    public void RandomInstanceNormSequences_MatchPyTorchModuleLogicOverLibtorch_AfterEveryCall()
    {
        InstanceNormCase.Generator.Sample(testCase => InstanceNormOracleRunner.Run(testCase, OracleReport.Shared), iter: InstanceNormCasesPerRun);
    }
}
