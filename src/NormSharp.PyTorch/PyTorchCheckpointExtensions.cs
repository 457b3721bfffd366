namespace NormSharp.PyTorch;

/// <summary>Loads torch.save checkpoints into NormSharp's layers.</summary>
public static class PyTorchCheckpointExtensions
{
    /// <summary>
    /// Reads a torch.save file (<see cref="PyTorchCheckpoint.ReadFile"/>) and loads it into the layers, all or nothing
    /// (<see cref="NormModuleCollection.LoadStateDict"/>), each layer with its own version from the file's <c>_metadata</c>:
    /// a layer saved at version 1 without <c>num_batches_tracked</c> gets the counter 0; one saved at version 2 without it
    /// reports the key missing, as in PyTorch.
    /// </summary>
    /// <param name="collection">The layers, named as in the PyTorch model (<c>layer1.0.bn1</c>).</param>
    /// <param name="path">The torch.save file.</param>
    /// <param name="strict">When true, missing and unexpected keys are errors. A whole network's checkpoint holds other
    /// layers' keys (convolutions, linear layers), which are unexpected here: pass false to load just the normalization
    /// layers, and check <see cref="LoadStateDictResult.MissingKeys"/>.</param>
    /// <param name="entry">See <see cref="PyTorchCheckpoint.ReadFile"/>.</param>
    /// <returns>The full names of the keys that were missing and unexpected.</returns>
    /// <exception cref="PyTorchCheckpointException">The file cannot be read, or is refused.</exception>
    /// <exception cref="ArgumentException">The tensors do not fit the layers (PyTorch's <c>load_state_dict</c> message); nothing
    /// changed.</exception>
    public static LoadStateDictResult LoadPyTorchCheckpoint(this NormModuleCollection collection, string path, bool strict = true, string? entry = null)
    {
        ArgumentNullException.ThrowIfNull(collection);
        return collection.LoadStateDict(PyTorchCheckpoint.ReadFile(path, entry).Tensors, strict);
    }
}
