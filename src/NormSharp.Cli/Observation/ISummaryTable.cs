namespace NormSharp.Cli.Observation;

/// <summary>A module family's summary table, every cell observed on real layers and a real batch.</summary>
public interface ISummaryTable
{
    /// <summary>Heading of the last column: the error for an input with one value per statistic.</summary>
    string SingleValueHeader { get; }

    /// <summary>The eight rows: train then eval; tracking at construction true then false; tracking now.</summary>
    IReadOnlyList<SummaryRow> Rows();

    /// <summary>The affine and momentum rows, each observed on a real forward.</summary>
    IReadOnlyList<AttributeObservation> AttributeRows();
}

/// <summary>Picks the summary table of a module's family.</summary>
public static class SummaryTables
{
    /// <summary>BatchNorm's table (docs/behavior.md section 3) or InstanceNorm's (section 6).</summary>
    public static ISummaryTable For(ModuleKind kind) => kind.IsInstanceNorm ? new InstanceNormSummaryTable(kind) : new SummaryTable(kind);

    /// <summary>The eight rows' settings in the spec's order: train then eval; tracking at construction true then false;
    /// tracking now equal to it first.</summary>
    public static IEnumerable<(bool Training, bool TrackAtConstruction, bool TrackNow)> Combinations()
    {
        foreach (bool training in new[] { true, false })
            foreach (bool built in new[] { true, false })
                foreach (bool now in built ? new[] { true, false } : new[] { false, true })
                    yield return (training, built, now);
    }
}
