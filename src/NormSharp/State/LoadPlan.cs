namespace NormSharp;

/// <summary>What a state-dict load will do, decided before anything changes (see <c>NormBase.PlanLoad</c>).</summary>
/// <param name="Errors">PyTorch's error lines (missing and unexpected keys first when strict, then size mismatches).</param>
/// <param name="Missing">Keys the layer expects that the state dict lacks.</param>
/// <param name="Unexpected">Keys of the state dict the layer does not have.</param>
/// <param name="Values">The values to copy, by key.</param>
/// <param name="Dropped">Keys left out on purpose (InstanceNorm's untracked running statistics).</param>
/// <param name="InitializeWith">For a lazy layer: the C to create its tensors with first.</param>
internal sealed record LoadPlan(
    List<string> Errors, List<string> Missing, List<string> Unexpected, List<(string Key, StateTensor Value)> Values,
    IReadOnlyList<string> Dropped, int? InitializeWith);
