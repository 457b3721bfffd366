namespace NormSharp;

/// <summary>
/// What every normalization layer offers whatever its element type: its name and its state under PyTorch's keys. Lets a
/// <see cref="NormModuleCollection"/> hold float and double layers together.
/// </summary>
public interface INormModule
{
    /// <summary>The PyTorch class name, e.g. <c>BatchNorm2d</c>.</summary>
    string ModuleName { get; }

    /// <summary>C, the number of channels (0 for a lazy layer before its first forward).</summary>
    int NumFeatures { get; }

    /// <summary>A snapshot of the state under PyTorch's keys.</summary>
    StateDict StateDict();

    /// <summary>Loads a state dict, as PyTorch's <c>load_state_dict</c>; nothing changes when it throws.</summary>
    /// <param name="stateDict">The state to load.</param>
    /// <param name="strict">When true, a missing or unexpected key is an error.</param>
    /// <param name="validate">When true, a running_var entry below zero or a non-finite running_mean or running_var entry is
    /// an error naming the key, the channel and the value.</param>
    LoadStateDictResult LoadStateDict(StateDict stateDict, bool strict = true, bool validate = false);
}

/// <summary>The two halves of a load, so that a collection can check every layer before changing any.</summary>
internal interface ILoadPlanning
{
    LoadPlan PlanLoad(StateDict stateDict, bool strict, string prefix, bool validate);

    void WarnBeforeApply(LoadPlan plan);

    void ApplyLoad(LoadPlan plan);
}
