namespace NormSharp.Cli.Folding;

/// <summary>One pair folded: what was folded and how well the result reproduces the original pair.</summary>
/// <param name="Pair">The pair.</param>
/// <param name="Target">What the preceding layer was taken to be.</param>
/// <param name="Norm">The normalization layer built from the checkpoint, e.g. <c>BatchNorm2d</c>.</param>
/// <param name="Channels">Its channels.</param>
/// <param name="Counter">Its num_batches_tracked (null: none in the checkpoint).</param>
/// <param name="DType">The weight's dtype, which the folded weight and bias keep.</param>
/// <param name="BiasAdded">Whether the preceding layer had no bias (the fold adds one).</param>
/// <param name="Check">The fold's check on a probe input, after rounding to <paramref name="DType"/>.</param>
public sealed record FoldedPair(FoldPair Pair, FoldTarget Target, string Norm, int Channels, long? Counter, StateDType DType, bool BiasAdded, FoldCheck Check);

/// <summary>A pair the CLI cannot fold; the message starts with the pair.</summary>
public sealed class FoldRefusedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FoldRefusedException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public FoldRefusedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public FoldRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Folds normalization layers of a checkpoint into the layers before them (<see cref="NormSharp.Folding"/>): each pair's
/// normalization layer is rebuilt as a BatchNorm in double from its tensors and evaluation mode, its weight and bias folded,
/// the folded weight and bias written in the weight's dtype, and the normalization layer's five tensors removed. Every pair
/// is folded before anything is returned, so one refusal leaves no partial result.
/// </summary>
public static class CheckpointFolding
{
    private static readonly string[] NormKeys = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];

    /// <summary>Folds <paramref name="pairs"/> in <paramref name="tensors"/>.</summary>
    /// <param name="tensors">The checkpoint (not changed).</param>
    /// <param name="pairs">What to fold.</param>
    /// <param name="eps">The normalization layers' eps where a pair does not give its own (PyTorch's default is 1e-5).</param>
    /// <param name="force">Fold layers whose counter is 0 too.</param>
    /// <returns>The new state dict (the checkpoint's order; a new bias right after its weight), the pairs folded, and the
    /// keys removed.</returns>
    /// <exception cref="FoldRefusedException">A pair cannot be folded; the message names it and says why.</exception>
    public static (StateDict Output, IReadOnlyList<FoldedPair> Folded, IReadOnlyList<string> Removed) Fold(
        StateDict tensors, IReadOnlyList<FoldPair> pairs, double eps, bool force)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(pairs);
        var replaced = new Dictionary<string, StateTensor>(StringComparer.Ordinal);
        var added = new Dictionary<string, (string Key, StateTensor Value)>(StringComparer.Ordinal);   // weight key -> new bias
        var removed = new List<string>();
        var folded = new List<FoldedPair>();
        var usedWeights = new HashSet<string>(StringComparer.Ordinal);
        var usedNorms = new HashSet<string>(StringComparer.Ordinal);
        foreach (FoldPair pair in pairs)
        {
            if (!usedWeights.Add(pair.WeightKey)) throw Refused(pair, $"{pair.WeightKey} is in two pairs; each weight folds one normalization layer.");
            if (!usedNorms.Add(pair.NormPrefix)) throw Refused(pair, $"{pair.NormPrefix} is in two pairs; each normalization layer folds into one weight.");
            (FoldedPair result, StateTensor weight, StateTensor bias) = FoldOne(tensors, pair, pair.Eps ?? eps, force);
            replaced[pair.WeightKey] = weight;
            if (result.BiasAdded) added[pair.WeightKey] = (pair.BiasKey, bias);
            else replaced[pair.BiasKey] = bias;
            removed.AddRange(NormKeys.Select(k => $"{pair.NormPrefix}.{k}").Where(tensors.ContainsKey));
            folded.Add(result);
        }

        var removedSet = new HashSet<string>(removed, StringComparer.Ordinal);
        var output = new StateDict();
        foreach (var (key, value) in tensors)
        {
            if (removedSet.Contains(key)) continue;
            output[key] = replaced.GetValueOrDefault(key, value);
            if (added.TryGetValue(key, out var bias)) output[bias.Key] = bias.Value;
        }

        return (output, folded, removed);
    }

    private static (FoldedPair Result, StateTensor Weight, StateTensor Bias) FoldOne(StateDict tensors, FoldPair pair, double eps, bool force)
    {
        if (!tensors.TryGetValue(pair.WeightKey, out StateTensor? weight)) throw Refused(pair, $"no tensor named {pair.WeightKey}.");
        if (weight.DType == StateDType.Int64) throw Refused(pair, $"{pair.WeightKey} holds integers, not a layer's weight.");
        tensors.TryGetValue(pair.BiasKey, out StateTensor? bias);
        if (bias?.DType == StateDType.Int64) throw Refused(pair, $"{pair.BiasKey} holds integers, not a layer's bias.");
        if (!tensors.TryGetValue(pair.NormPrefix + ".running_mean", out StateTensor? mean) || !tensors.ContainsKey(pair.NormPrefix + ".running_var"))
            throw Refused(pair, $"no normalization layer with running statistics at {pair.NormPrefix} (no {pair.NormPrefix}.running_mean and .running_var).");
        if (mean.Shape is not [long length] || length > int.MaxValue) throw Refused(pair, $"{pair.NormPrefix}.running_mean is not a vector of channels.");
        int channels = (int)length;
        bool affine = tensors.ContainsKey(pair.NormPrefix + ".weight") || tensors.ContainsKey(pair.NormPrefix + ".bias");

        BatchNorm<double> norm = weight.Shape.Count switch
        {
            2 or 3 => new BatchNorm1d<double>(channels, eps, affine: affine),
            4 => new BatchNorm2d<double>(channels, eps, affine: affine),
            5 => new BatchNorm3d<double>(channels, eps, affine: affine),
            _ => throw Refused(pair, $"{pair.WeightKey} has rank {weight.Shape.Count}; a BatchNorm follows a layer whose weight has rank 2 to 5."),
        };
        var state = new StateDict();
        foreach (string key in NormKeys)
            if (tensors.TryGetValue($"{pair.NormPrefix}.{key}", out StateTensor? value)) state[key] = value;
        try
        {
            norm.LoadStateDict(state, strict: true);
            norm.Eval();
            FoldResult<double> result = NormSharp.Folding.FoldInto(weight.ToTensor<double>(), bias?.ToTensor<double>(), norm, pair.Target, force, check: false);

            // The folded tensors as they will be stored, and the check of exactly those.
            StateTensor storedWeight = StateTensor.FromTensor(result.Weight).ConvertTo(weight.DType);
            StateTensor storedBias = StateTensor.FromTensor(result.Bias).ConvertTo(bias?.DType ?? weight.DType);
            FoldCheck check = NormSharp.Folding.Check(weight.ToTensor<double>(), bias?.ToTensor<double>(), norm,
                                                      storedWeight.ToTensor<double>(), storedBias.ToTensor<double>(), pair.Target);
            FoldTarget target = pair.Target ?? (weight.Shape.Count == 2 ? FoldTarget.Linear : FoldTarget.Convolution());
            return (new FoldedPair(pair, target, norm.ModuleName, channels, norm.NumBatchesTracked, weight.DType, bias is null, check), storedWeight, storedBias);
        }
        catch (ArgumentException e)
        {
            throw Refused(pair, e.Message.Replace("pass force: true", "pass --force", StringComparison.Ordinal), e);
        }
    }

    private static FoldRefusedException Refused(FoldPair pair, string message, Exception? inner = null) =>
        inner is null ? new($"{pair.Label}: {message}") : new($"{pair.Label}: {message}", inner);
}
