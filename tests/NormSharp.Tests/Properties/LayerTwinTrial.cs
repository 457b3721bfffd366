using System.Numerics;
using static NormSharp.Tests.Properties.TwinTensors;

namespace NormSharp.Tests.Properties;

/// <summary>How one twin trial ended.</summary>
internal enum TwinVerdict
{
    /// <summary>The hostile call threw an expected exception and the twins stayed bit-identical.</summary>
    Passed,

    /// <summary>The hostile call did not throw: the trial is skipped (and counted).</summary>
    NotThrown,

    /// <summary>A difference, an unexpected exception type, or a hostile-owned buffer that changed.</summary>
    Failed,
}

/// <summary>The outcome of a trial: its verdict, the kind of hostile call, and the report (the whole trial, when it failed or was skipped).</summary>
/// <param name="Verdict">How it ended.</param>
/// <param name="Kind">The kind of hostile call.</param>
/// <param name="Report">The whole trial, when it failed or was skipped.</param>
/// <param name="Message">The type and first line of what the hostile call threw, if it did.</param>
internal sealed record TwinResult(TwinVerdict Verdict, string Kind, string Report, string Message = "");

/// <summary>
/// One trial of "a call that throws changes nothing" on a layer: two identical layers get the same random history of
/// valid calls, one of them a hostile call that must throw, then both the same calls again; every observable must stay
/// equal bit for bit. The first call after the hostile one is a Backward, which reads what the last successful forward
/// saved (hidden state no property shows).
/// </summary>
internal sealed class LayerTwinTrial<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Random rng;
    private readonly TwinConfig config;
    private readonly NormBase<T> a, b;
    private readonly List<string> log = [];
    private readonly nint[] probeShape;

    // The last successful forward (on the twin without the hostile call; the same on both while they agree).
    private nint[]? savedShape;
    private bool savedChannelsLast;
    private Tensor<T>? savedInputA;

    public LayerTwinTrial(Random rng, TwinConfig config)
    {
        this.rng = rng;
        this.config = config;
        a = config.Create<T>();
        b = config.Create<T>();
        probeShape = InputShape(valid: true, allowUnbatched: false);
    }

    /// <summary>Shared calls that succeeded / threw on both twins (a sanity figure: most should succeed).</summary>
    public int SharedSucceeded { get; private set; }

    public int SharedThrew { get; private set; }

    /// <summary>The mode the layers were in when the hostile call came.</summary>
    public bool HostileInTraining { get; private set; }

    private sealed record Hostile(string Kind, string Description, Action Call, Action? Restore = null, Func<string?>? PostCheck = null);

    public TwinResult Run()
    {
        log.Add($"layers: {config} ({typeof(T).Name})");
        bool fresh = rng.Next(config.Lazy ? 4 : 8) == 0;
        if (!fresh)
        {
            if (Forward(into: rng.Next(4) == 0) is string d0) return Fail("history", d0);
            if (savedShape is not null && rng.Next(4) != 0 && Backward(into: rng.Next(4) == 0) is string d1) return Fail("history", d1);
            if (rng.Next(4) == 0 && SetGradViews() is string d2) return Fail("history", d2);
        }

        int historyLength = rng.Next(0, 6);
        for (int i = 0; i < historyLength; i++)
            if (SharedCall(allowForward: !fresh) is string difference) return Fail("history", difference);
        if (rng.Next(4) == 0 && TrainOrEval() is string mode) return Fail("history", mode);
        if (CompareState("before the hostile call (the twins must start identical)") is string before) return Fail("history", before);

        HostileInTraining = a.Training;
        Hostile hostile = DrawHostile();
        log.Add($">>> hostile call on one twin only [{hostile.Kind}]: {hostile.Description}");
        Exception? thrown = null;
        try
        {
            hostile.Call();
        }
        catch (Exception e)
        {
            thrown = e;
        }
        finally
        {
            hostile.Restore?.Invoke();
        }

        if (thrown is null) return new TwinResult(TwinVerdict.NotThrown, hostile.Kind, Report("the hostile call did not throw"));
        string message = $"{thrown.GetType().Name}: {FirstLine(thrown.Message)}";
        log.Add($"    threw {message}");
        if (thrown is not (ArgumentException or InvalidOperationException))
            return Fail(hostile.Kind, $"the hostile call threw {thrown.GetType().FullName}, not ArgumentException/InvalidOperationException:\n{thrown}");
        if (hostile.PostCheck?.Invoke() is string changed) return Fail(hostile.Kind, changed);
        if (CompareState("right after the failed call") is string after) return Fail(hostile.Kind, after);

        // The hidden saved state: Backward reads what the last successful forward kept.
        string? backward = savedShape is not null
            ? Backward(into: rng.Next(3) == 0, "right after the failed call, before any new forward")
            : Shared("Backward right after the failed call (no successful forward yet: both must refuse)",
                     (layer, _) => Bits(layer.Backward(Make<T>(Values(Count(probeShape)), probeShape, TwinLayout.RowMajor))));
        if (backward is not null) return Fail(hostile.Kind, backward);
        if (CompareState("after that Backward") is string afterBackward) return Fail(hostile.Kind, afterBackward);

        int followUp = rng.Next(2, 5);
        for (int i = 0; i < followUp; i++)
        {
            if (SharedCall(allowForward: true) is string difference) return Fail(hostile.Kind, difference);
            if (CompareState("after that call") is string state) return Fail(hostile.Kind, state);
        }

        return new TwinResult(TwinVerdict.Passed, hostile.Kind, "", message);
    }

    private TwinResult Fail(string kind, string difference) => new(TwinVerdict.Failed, kind, Report(difference));

    private string Report(string problem) => $"{problem}\n    calls (the same on both twins unless marked >>>):\n      {string.Join("\n      ", log)}";

    private static string FirstLine(string message) => message.Split('\n')[0];

    // ---- Observation --------------------------------------------------------------------------------------------------

    private string? CompareState(string when)
    {
        var shapes = new List<nint[]> { probeShape, new nint[] { 2 } };
        if (savedShape is not null) shapes.Add(savedShape);
        string? difference = TwinObservation.FirstDifference(TwinObservation.Of(a, shapes), TwinObservation.Of(b, shapes));
        return difference is null ? null : $"observable state differs {when}:\n      {difference}";
    }

    /// <summary>Runs <paramref name="call"/> on both twins (true: the hostile one); their outcomes (result bits, or exception
    /// type and message) must be equal. <paramref name="succeeded"/> runs when it succeeded.</summary>
    private string? Shared(string description, Func<NormBase<T>, bool, string> call, Action? succeeded = null)
    {
        log.Add(description);
        string outcomeA = Outcome(a, true), outcomeB = Outcome(b, false);
        if (outcomeA != outcomeB)
            return $"`{description}` gave different results:\n      twin that got the failed call: {outcomeA}\n      the other twin:            {outcomeB}";
        if (outcomeB.StartsWith("ok", StringComparison.Ordinal))
        {
            SharedSucceeded++;
            succeeded?.Invoke();
        }
        else
        {
            SharedThrew++;
            log[^1] += $"  (both threw: {FirstLine(outcomeB)})";
        }

        return null;

        string Outcome(NormBase<T> layer, bool isA)
        {
            try
            {
                return "ok " + call(layer, isA);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                return $"threw {e.GetType().Name}: {e.Message}";
            }
        }
    }

    // ---- Random data ----------------------------------------------------------------------------------------------------

    private double[] Values(long count, bool positive = false)
    {
        double offset = positive ? 0.2 : rng.NextDouble() * 6 - 3, scale = 0.1 + rng.NextDouble() * 3;
        var values = new double[count];
        for (long i = 0; i < count; i++) values[i] = positive ? offset + scale * rng.NextDouble() : offset + scale * (2 * rng.NextDouble() - 1);
        return values;
    }

    private static double[] Garbage(long count) => Enumerable.Range(0, (int)count).Select(i => 1000.0 + i).ToArray();

    /// <summary>C as a valid input has it: the layer's, or (lazy, before the first forward) the trial's.</summary>
    private int Channels => a.HasUninitializedParameters || a.NumFeatures == 0 ? config.C : a.NumFeatures;

    private bool HasBuffersAfterForward => a.RunningMean is not null || (a.HasUninitializedParameters && config.Track && a.TrackRunningStats);

    /// <summary>Whether the next forward normalizes with the input's own statistics (so one value per statistic is an error).</summary>
    private bool UsesInputStatistics => config.InstanceNorm ? a.Training || !a.TrackRunningStats : a.Training || !HasBuffersAfterForward;

    private nint[] InputShape(bool valid, int? channels = null, bool allowUnbatched = true, bool allowEmpty = true, int? batch = null)
    {
        int[] ranks = config.Ranks;
        bool unbatched = config.InstanceNorm && allowUnbatched && !a.HasUninitializedParameters && rng.Next(6) == 0;
        int rank = config.InstanceNorm ? (unbatched ? ranks[0] : ranks[1]) : ranks[rng.Next(ranks.Length)];
        var shape = new List<nint>();
        if (!unbatched) shape.Add(batch ?? (allowEmpty && rng.Next(12) == 0 ? 0 : rng.Next(1, 7)));
        shape.Add(channels ?? Channels);
        while (shape.Count < rank) shape.Add(rng.Next(1, 5));
        if (valid && UsesInputStatistics)
        {
            long perStatistic = 1;
            for (int d = config.InstanceNorm ? (unbatched ? 1 : 2) : 2; d < shape.Count; d++) perStatistic *= shape[d];
            if (!config.InstanceNorm && shape[0] * perStatistic == 1) shape[0] = 2;
            if (config.InstanceNorm && perStatistic == 1) shape[^1] = 2;
        }

        return [.. shape];
    }

    private TwinLayout DrawLayout() => rng.Next(20) switch
    {
        < 12 => TwinLayout.RowMajor,
        < 16 => TwinLayout.ChannelsLast,
        < 18 => TwinLayout.Gapped,
        _ => TwinLayout.Offset,
    };

    /// <summary>The layout a forward's output has for an input of this layout (channels-last only for BatchNorm).</summary>
    private TwinLayout OutputLayout(TwinLayout input) =>
        !config.InstanceNorm && input == TwinLayout.ChannelsLast ? TwinLayout.ChannelsLast : rng.Next(4) == 0 ? TwinLayout.Offset : TwinLayout.RowMajor;

    // ---- Shared (valid) calls -----------------------------------------------------------------------------------------

    private string? SharedCall(bool allowForward)
    {
        int pick = rng.Next(100);
        if (!allowForward && pick < 57) pick = 57 + rng.Next(43);
        if (pick < 57 && savedShape is null && pick >= 42) pick = rng.Next(42);
        return pick switch
        {
            < 30 => Forward(into: false),
            < 42 => Forward(into: true),
            < 57 => Backward(into: rng.Next(3) == 0),
            < 65 => TrainOrEval(),
            < 68 => SetEps(),
            < 71 => SetMomentum(),
            < 74 => ToggleFlag(),
            < 77 => Shared("ZeroGrad()", (layer, _) => { layer.ZeroGrad(); return ""; }),
            < 79 => ToggleRequiresGrad(),
            < 83 => SetGradViews(),
            < 87 => WriteTensors(),
            < 89 => Shared("ResetRunningStats()", (layer, _) => { layer.ResetRunningStats(); return ""; }),
            < 91 => Shared("ResetParameters()", (layer, _) => { layer.ResetParameters(); return ""; }),
            < 96 => LoadValid(),
            _ => ExplainShared(),
        };
    }

    private string? Forward(bool into)
    {
        nint[] shape = InputShape(valid: rng.Next(12) != 0);
        double[] values = Values(Count(shape));
        TwinLayout layout = DrawLayout(), destLayout = OutputLayout(layout);
        Tensor<T> xa = Make<T>(values, shape, layout), xb = Make<T>(values, shape, layout);
        double[] garbage = Garbage(Count(shape));
        string mode = a.Training ? "train" : "eval";
        return Shared($"Forward(x {Show(shape)} {layout}{(into ? $", destination {destLayout}" : "")}) [{mode}]", (layer, isA) =>
        {
            Tensor<T> x = isA ? xa : xb;
            if (!into) return Bits(layer.Forward(x));
            Tensor<T> destination = Make<T>(garbage, shape, destLayout);
            layer.Forward(x, destination);
            return Bits(destination);
        }, () =>
        {
            savedShape = shape;
            savedChannelsLast = !config.InstanceNorm && layout == TwinLayout.ChannelsLast && !IsRowMajor(xb);
            savedInputA = xa;
        });
    }

    private string? Backward(bool into, string? when = null)
    {
        nint[] shape = savedShape!;
        double[] dy = Values(Count(shape));
        TwinLayout dyLayout = rng.Next(10) switch { < 6 => TwinLayout.RowMajor, < 8 => TwinLayout.ChannelsLast, 8 => TwinLayout.Offset, _ => TwinLayout.Gapped };
        bool matchesForward = savedChannelsLast ? dyLayout == TwinLayout.ChannelsLast && shape.Length >= 4 : dyLayout != TwinLayout.Gapped;
        TwinLayout destLayout = savedChannelsLast && matchesForward ? TwinLayout.ChannelsLast : rng.Next(4) == 0 ? TwinLayout.Offset : TwinLayout.RowMajor;
        double[] garbage = Garbage(Count(shape));
        return Shared($"Backward(dy {Show(shape)} {dyLayout}{(into ? $", destination {destLayout}" : "")}){(when is null ? "" : " " + when)}", (layer, _) =>
        {
            Tensor<T> gradient = Make<T>(dy, shape, dyLayout);
            if (!into) return Bits(layer.Backward(gradient));
            Tensor<T> destination = Make<T>(garbage, shape, destLayout);
            layer.Backward(gradient, destination);
            return Bits(destination);
        });
    }

    private string? TrainOrEval()
    {
        bool train = rng.Next(2) == 0;
        return Shared(train ? "Train()" : "Eval()", (layer, _) => { layer.Train(train); return ""; });
    }

    private string? SetEps()
    {
        double eps = rng.Next(2) == 0 ? 1e-5 : Math.Round(rng.NextDouble() * 0.1 + 1e-6, 7);
        return Shared($"Eps = {eps:R}", (layer, _) => { layer.Eps = eps; return ""; });
    }

    private string? SetMomentum()
    {
        double? momentum = rng.Next(3) == 0 ? null : Math.Round(rng.NextDouble(), 3);
        return Shared($"Momentum = {momentum?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}", (layer, _) => { layer.Momentum = momentum; return ""; });
    }

    private string? ToggleFlag()
    {
        // A lazy layer before its first forward would be left unusable: that case is a hostile call of its own.
        if (a.HasUninitializedParameters) return TrainOrEval();
        if (rng.Next(3) == 0)
        {
            bool affine = !a.Affine;
            return Shared($"Affine = {affine}", (layer, _) => { layer.Affine = affine; return ""; });
        }

        bool track = !a.TrackRunningStats;
        return Shared($"TrackRunningStats = {track}", (layer, _) => { layer.TrackRunningStats = track; return ""; });
    }

    private string? ToggleRequiresGrad()
    {
        if (a.Weight is null) return TrainOrEval();
        bool weight = rng.Next(2) == 0, value = rng.Next(3) != 0;
        return Shared($"{(weight ? "Weight" : "Bias")}.RequiresGrad = {value}", (layer, _) =>
        {
            (weight ? layer.Weight! : layer.Bias!).RequiresGrad = value;
            return "";
        });
    }

    /// <summary>Gradients as views into larger buffers (any strides are allowed), with room around them for overlaps.</summary>
    private string? SetGradViews()
    {
        if (a.Weight is null || a.Bias is null) return TrainOrEval();
        int c = (int)a.Weight.Data.FlattenedLength;
        bool weight = rng.Next(3) != 0, bias = rng.Next(3) != 0;
        double[] weightValues = Values(c), biasValues = Values(c);
        TwinLayout layout = rng.Next(2) == 0 ? TwinLayout.Offset : TwinLayout.Gapped;
        return Shared($"Weight.Grad/Bias.Grad ({weight}/{bias}) = {layout} views into larger buffers", (layer, _) =>
        {
            if (weight) layer.Weight!.Grad = GradientView(weightValues, layout);
            if (bias) layer.Bias!.Grad = GradientView(biasValues, layout);
            return "";
        });
    }

    private static Tensor<T> GradientView(double[] values, TwinLayout layout)
    {
        const int Start = 8;
        nint[] lengths = [values.Length];
        var array = new T[Start + 2 * values.Length + 2048];
        Tensor<T> view = Tensor.Create(array, Start, lengths, RowMajorStrides(lengths, layout == TwinLayout.Gapped ? 2 : 1));
        Fill(view, values);
        return view;
    }

    /// <summary>Writes new values into the live tensors (an optimizer step, or a user editing the buffers).</summary>
    private string? WriteTensors()
    {
        var targets = new List<(string Name, Func<NormBase<T>, Tensor<T>> Get, bool Positive)>();
        if (a.Weight is not null) targets.Add(("Weight.Data", l => l.Weight!.Data, false));
        if (a.Bias is not null) targets.Add(("Bias.Data", l => l.Bias!.Data, false));
        if (a.RunningMean is not null) targets.Add(("RunningMean", l => l.RunningMean!, false));
        if (a.RunningVar is not null) targets.Add(("RunningVar", l => l.RunningVar!, true));
        if (targets.Count == 0) return TrainOrEval();
        var (name, get, positive) = targets[rng.Next(targets.Count)];
        double[] values = Values(get(a).FlattenedLength, positive);
        return Shared($"{name} overwritten", (layer, _) => { Fill(get(layer), values); return ""; });
    }

    private string? ExplainShared()
    {
        nint[] shape = rng.Next(4) == 0 ? [.. Enumerable.Range(0, rng.Next(1, 7)).Select(_ => (nint)rng.Next(0, 4))] : InputShape(valid: rng.Next(2) == 0);
        return Shared($"Explain({Show(shape)})", (layer, _) => TwinObservation.Plan(layer.Explain(shape)));
    }

    /// <summary>A copy of a state dict with new values (same keys, shapes and element types; variances positive).</summary>
    private StateDict Perturbed(StateDict source)
    {
        var copy = new StateDict(source.Version);
        foreach (var (key, value) in source) copy[key] = Perturbed(key, value);
        return copy;
    }

    private StateTensor Perturbed(string key, StateTensor value, long[]? shape = null)
    {
        if (value.IsUninitialized && shape is null) return value; // a lazy layer's entry before its first forward: no values
        shape ??= [.. value.Shape];
        long count = shape.Aggregate(1L, (x, y) => x * y);
        if (value.DType == StateDType.Int64) return StateTensor.FromInt64s(Enumerable.Range(0, (int)count).Select(_ => (long)rng.Next(0, 50)).ToArray(), shape);
        double[] values = Values(count, positive: key == "running_var");
        return rng.Next(2) == 0 ? StateTensor.FromDoubles(values, shape) : StateTensor.FromSingles(values.Select(v => (float)v).ToArray(), shape);
    }

    private StateTensor Vector(string key, long length) => Perturbed(key, StateTensor.FromDoubles(new double[length], length));

    /// <summary>Entries that make a lazy layer before its first forward create its tensors (C = <paramref name="c"/>).</summary>
    private void AddInitializingEntries(StateDict dict, int c)
    {
        if (config.Affine) (dict["weight"], dict["bias"]) = (Vector("weight", c), Vector("bias", c));
        if (config.Track) (dict["running_mean"], dict["running_var"]) = (Vector("running_mean", c), Vector("running_var", c));
    }

    private static string Describe(StateDict dict) =>
        $"{{{string.Join(", ", dict.Select(e => $"{e.Key}: {e.Value}"))}}} v{dict.Version?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}";

    private string? LoadValid()
    {
        StateDict dict = Perturbed(b.StateDict());
        if (a.HasUninitializedParameters && rng.Next(2) == 0) AddInitializingEntries(dict, config.C);
        bool strict = rng.Next(3) != 0;
        if (!strict && rng.Next(2) == 0) dict["extra_key"] = Vector("extra_key", 2);
        if (rng.Next(4) == 0) dict.Version = null;
        return Shared($"LoadStateDict({Describe(dict)}, strict: {strict})", (layer, _) =>
        {
            LoadStateDictResult result = layer.LoadStateDict(dict, strict);
            return $"missing [{string.Join(",", result.MissingKeys)}] unexpected [{string.Join(",", result.UnexpectedKeys)}]";
        });
    }

    // ---- Hostile calls (each must throw) ------------------------------------------------------------------------------

    private Hostile DrawHostile()
    {
        Func<Hostile?>[] kinds =
        [
            ForwardWrongRank, ForwardWrongChannels, ForwardOneValue, ForwardDestinationWrongShape, ForwardDestinationWrongLayout,
            ForwardDestinationIsInput, ForwardDestinationOverlapsInput, ForwardDestinationOverlapsBuffer, BackwardWrongGradient,
            BackwardDestinationOverlapsGradient, BackwardDestinationIsSavedInput, BackwardDestinationOverlapsParameterGradient,
            BackwardDestinationWrongShape, BackwardDestinationWrongLayout, BackwardWithoutForward, ParameterGradientsShareMemory,
            GradientWrongShape, ExplainNegativeLength, EpsNotPositive, LoadStateDictBad, LazyFlagFlipped, WarningHandlerThrows,
            CollectionLoadBad, ResetWithoutBuffers, ChannelWarningHandlerThrows, LazyInstanceNormUnbatchedFirstInput,
        ];
        foreach (int i in Enumerable.Range(0, kinds.Length).OrderBy(_ => rng.Next()).ToArray())
            if (kinds[i]() is Hostile hostile) return hostile;
        throw new InvalidOperationException("unreachable: ExplainNegativeLength always applies");
    }

    /// <summary>A check, made after the hostile call, that the tensors the caller handed it still hold their values.</summary>
    private static Func<string?> Unchanged(params (string Name, Tensor<T>? Tensor)[] tensors)
    {
        string[] before = tensors.Select(t => Bits(t.Tensor)).ToArray();
        return () =>
        {
            for (int i = 0; i < tensors.Length; i++)
                if (Bits(tensors[i].Tensor) != before[i]) return $"the failed call changed the caller's {tensors[i].Name}";
            return null;
        };
    }

    private static Func<string?> Unchanged(string name, T[] array)
    {
        string before = Bits(array);
        return () => Bits(array) == before ? null : $"the failed call changed the caller's {name}";
    }

    /// <summary>Forward(x) or Forward(x, destination) on the hostile twin.</summary>
    private Hostile ForwardCall(string kind, string what, Tensor<T> x, Tensor<T>? destination, Func<string?>? postCheck = null)
    {
        string description = $"Forward(x {Show(x.Lengths)}{(destination is null ? "" : $", destination {Show(destination.Lengths)}")}) [{(a.Training ? "train" : "eval")}]: {what}";
        postCheck ??= Unchanged(("input", x), ("destination", destination));
        return new Hostile(kind, description, () =>
        {
            if (destination is null) a.Forward(x);
            else a.Forward(x, destination);
        }, PostCheck: postCheck);
    }

    private Tensor<T>? MaybeDestination(nint[] shape, TwinLayout inputLayout) =>
        rng.Next(3) == 0 ? Make<T>(Garbage(Count(shape)), shape, OutputLayout(inputLayout)) : null;

    private Hostile? ForwardWrongRank()
    {
        int[] wrong = Enumerable.Range(1, 6).Except(config.Ranks).ToArray();
        int rank = wrong[rng.Next(wrong.Length)];
        nint[] shape = [.. Enumerable.Range(0, rank).Select(_ => (nint)rng.Next(1, 4))];
        if (rank >= 2 && rng.Next(2) == 0) shape[1] = Channels;
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, TwinLayout.RowMajor);
        return ForwardCall("forward: wrong rank", $"rank {rank}", x, MaybeDestination(shape, TwinLayout.RowMajor));
    }

    private Hostile? ForwardWrongChannels()
    {
        if (a.HasUninitializedParameters) return null;
        int c = a.NumFeatures;
        int wrong = c > 1 && rng.Next(2) == 0 ? rng.Next(1, c) : c + rng.Next(1, 3);
        bool throws = config.InstanceNorm
            ? a.Affine
            : a.Weight is not null || (a.RunningMean is not null && (!a.Training || a.TrackRunningStats));
        if (!throws) return null;
        nint[] shape = InputShape(valid: true, channels: wrong, allowUnbatched: false, allowEmpty: false);
        TwinLayout layout = DrawLayout();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        return ForwardCall("forward: wrong channel count", $"{wrong} channels, the layer has {c}", x, MaybeDestination(shape, layout));
    }

    private Hostile? ForwardOneValue()
    {
        if (!UsesInputStatistics) return null;
        nint[] shape = InputShape(valid: false, allowUnbatched: false, batch: config.InstanceNorm ? null : 1);
        for (int d = 2; d < shape.Length; d++) shape[d] = 1;
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, TwinLayout.RowMajor);
        return ForwardCall("forward: one value per statistic", config.InstanceNorm ? "one spatial value, input statistics" : "one value per channel, batch statistics",
                           x, MaybeDestination(shape, TwinLayout.RowMajor));
    }

    private Hostile? ForwardDestinationWrongShape()
    {
        // Any batch size (often another one than the saved forward's), the input valid or not.
        nint[] shape = InputShape(valid: rng.Next(4) != 0);
        nint[] wrong = (nint[])shape.Clone();
        if (rng.Next(4) == 0) wrong = [.. wrong, 1];
        else wrong[rng.Next(wrong.Length)] += 1;
        TwinLayout layout = DrawLayout();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        Tensor<T> destination = Make<T>(Garbage(Count(wrong)), wrong, OutputLayout(layout));
        return ForwardCall("forward: destination of the wrong shape", $"destination {Show(wrong)}", x, destination);
    }

    private nint[] NonEmptyShape(int minimumCount = 1)
    {
        nint[] shape = InputShape(valid: rng.Next(4) != 0, allowEmpty: false);
        if (Count(shape) < minimumCount) shape[^1] = 2;
        return shape;
    }

    private Hostile? ForwardDestinationWrongLayout()
    {
        nint[] shape = NonEmptyShape(minimumCount: 2);
        TwinLayout layout = rng.Next(3) == 0 ? TwinLayout.ChannelsLast : TwinLayout.RowMajor;
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        Tensor<T> destination = Make<T>(Garbage(Count(shape)), shape, TwinLayout.Gapped);
        return ForwardCall("forward: destination of the wrong layout", "a strided destination", x, destination);
    }

    private Hostile? ForwardDestinationIsInput()
    {
        nint[] shape = NonEmptyShape();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, rng.Next(2) == 0 ? TwinLayout.RowMajor : TwinLayout.ChannelsLast);
        return ForwardCall("forward: destination is the input", "destination = x", x, x);
    }

    private Hostile? ForwardDestinationOverlapsInput()
    {
        nint[] shape = NonEmptyShape(minimumCount: 2); // a shift smaller than the count: a partial overlap
        int count = (int)Count(shape), shift = rng.Next(1, Math.Min(count - 1, 3) + 1) * (rng.Next(2) == 0 ? 1 : -1);
        var array = new T[count + 8];
        Tensor<T> x = RowMajorView(array, 4, shape);
        Fill(x, Values(count));
        Tensor<T> destination = RowMajorView(array, 4 + shift, shape);
        return ForwardCall("forward: destination overlaps the input", $"destination = x's buffer shifted by {shift}", x, destination, Unchanged("shared buffer of x and destination", array));
    }

    private Hostile? ForwardDestinationOverlapsBuffer()
    {
        // An output of C elements ([1, C, 1...]) reaches the shared-memory check only where one value per channel is fine:
        // evaluation with running statistics.
        if (a.HasUninitializedParameters || a.Training || a.RunningMean is null || a.RunningVar is null) return null;
        if (config.InstanceNorm && (!a.TrackRunningStats || a.NumFeatures == 0)) return null;
        var buffers = new List<(string Name, Tensor<T> Tensor)> { ("RunningMean", a.RunningMean), ("RunningVar", a.RunningVar) };
        if (a.Weight is not null) buffers.Add(("Weight.Data", a.Weight.Data));
        if (a.Bias is not null) buffers.Add(("Bias.Data", a.Bias.Data));
        var (name, buffer) = buffers[rng.Next(buffers.Count)];
        if (Backing(buffer) is not var (array, start)) return null;
        nint[] shape = InputShape(valid: false, allowUnbatched: false, batch: 1);
        for (int d = 2; d < shape.Length; d++) shape[d] = 1;
        if (start + Count(shape) > array.Length) return null;
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, TwinLayout.RowMajor);
        Tensor<T> destination = RowMajorView(array, start, shape);
        return ForwardCall("forward: destination is the layer's own buffer", $"destination = the memory of {name}", x, destination, Unchanged(("input", x)));
    }

    private nint[] Mutated(nint[] shape)
    {
        nint[] wrong = (nint[])shape.Clone();
        switch (rng.Next(5))
        {
            case 0: return [.. wrong, 2];
            case 1 when wrong.Length > 1: return wrong[..^1];
            default:
                int d = rng.Next(wrong.Length);
                wrong[d] = wrong[d] > 1 && rng.Next(2) == 0 ? wrong[d] - 1 : wrong[d] + 1;
                return wrong;
        }
    }

    private Hostile BackwardCall(string kind, string what, Tensor<T> dy, Tensor<T>? destination, Func<string?>? postCheck = null)
    {
        string description = $"Backward(dy {Show(dy.Lengths)}{(destination is null ? "" : $", destination {Show(destination.Lengths)}")}): {what}";
        postCheck ??= Unchanged(("dy", dy), ("destination", destination));
        return new Hostile(kind, description, () =>
        {
            if (destination is null) a.Backward(dy);
            else a.Backward(dy, destination);
        }, PostCheck: postCheck);
    }

    private Hostile? BackwardWrongGradient()
    {
        if (savedShape is null) return null;
        nint[] shape = Mutated(savedShape);
        Tensor<T> dy = Make<T>(Values(Count(shape)), shape, TwinLayout.RowMajor);
        Tensor<T>? destination = rng.Next(3) == 0 ? Make<T>(Garbage(Count(shape)), shape, TwinLayout.RowMajor) : null;
        return BackwardCall("backward: dy of the wrong shape", $"the saved forward had {Show(savedShape)}", dy, destination);
    }

    private Tensor<T> Gradient(nint[] shape) => Make<T>(Values(Count(shape)), shape, TwinLayout.RowMajor);

    private Hostile? BackwardDestinationOverlapsGradient()
    {
        if (savedShape is null || Count(savedShape) == 0) return null;
        int count = (int)Count(savedShape), shift = rng.Next(3) == 0 || count == 1 ? 0 : rng.Next(1, Math.Min(count - 1, 3) + 1) * (rng.Next(2) == 0 ? 1 : -1);
        var array = new T[count + 8];
        Tensor<T> dy = RowMajorView(array, 4, savedShape);
        Fill(dy, Values(count));
        Tensor<T> destination = shift == 0 ? dy : RowMajorView(array, 4 + shift, savedShape);
        return BackwardCall("backward: destination overlaps dy", shift == 0 ? "destination = dy" : $"destination = dy's buffer shifted by {shift}",
                            dy, destination, Unchanged("shared buffer of dy and destination", array));
    }

    private Hostile? BackwardDestinationIsSavedInput()
    {
        if (savedShape is null || savedInputA is null || Count(savedShape) == 0 || !IsRowMajor(savedInputA)) return null;
        return BackwardCall("backward: destination is the saved input", "destination = the last forward's x", Gradient(savedShape), savedInputA,
                            Unchanged(("saved input", savedInputA)));
    }

    private Hostile? BackwardDestinationOverlapsParameterGradient()
    {
        if (savedShape is null || Count(savedShape) == 0) return null;
        var grads = new List<(string Name, Tensor<T> Tensor)>();
        if (a.Weight?.Grad is Tensor<T> wg) grads.Add(("Weight.Grad", wg));
        if (a.Bias?.Grad is Tensor<T> bg) grads.Add(("Bias.Grad", bg));
        if (grads.Count == 0) return null;
        var (name, grad) = grads[rng.Next(grads.Count)];
        if (Backing(grad) is not var (array, start)) return null;
        int count = (int)Count(savedShape);
        int back = rng.Next(0, Math.Min(start, count - 1) + 1);
        if (start - back + count > array.Length) return null;
        Tensor<T> destination = RowMajorView(array, start - back, savedShape);
        return BackwardCall("backward: destination overlaps a parameter gradient", $"destination overlaps {name}", Gradient(savedShape), destination,
                            Unchanged($"buffer of {name}", array));
    }

    private Hostile? BackwardDestinationWrongShape()
    {
        if (savedShape is null) return null;
        nint[] wrong = Mutated(savedShape);
        return BackwardCall("backward: destination of the wrong shape", $"destination {Show(wrong)}", Gradient(savedShape),
                            Make<T>(Garbage(Count(wrong)), wrong, TwinLayout.RowMajor));
    }

    private Hostile? BackwardDestinationWrongLayout()
    {
        if (savedShape is null || Count(savedShape) < 2) return null;
        return BackwardCall("backward: destination of the wrong layout", "a strided destination", Gradient(savedShape),
                            Make<T>(Garbage(Count(savedShape)), savedShape, TwinLayout.Gapped));
    }

    private Hostile? BackwardWithoutForward()
    {
        if (savedShape is not null) return null;
        nint[] shape = InputShape(valid: true);
        Tensor<T>? destination = rng.Next(2) == 0 ? Make<T>(Garbage(Count(shape)), shape, TwinLayout.RowMajor) : null;
        return BackwardCall("backward: no forward yet", "no successful forward", Gradient(shape), destination);
    }

    private Hostile? ParameterGradientsShareMemory()
    {
        if (a.Weight is not { RequiresGrad: true } weight || a.Bias is not { RequiresGrad: true } bias) return null;
        int c = (int)weight.Data.FlattenedLength, shift = rng.Next(0, c);
        var array = new T[c + shift + 2];
        Tensor<T> sharedWeight = RowMajorView(array, 0, [c]), sharedBias = RowMajorView(array, shift, [c]);
        Fill(sharedWeight, Values(c));
        (Tensor<T>? weightGrad, Tensor<T>? biasGrad) = (weight.Grad, bias.Grad);
        nint[] shape = savedShape ?? probeShape;
        Tensor<T> dy = Gradient(shape);
        Func<string?> unchanged = Unchanged("shared gradient buffer", array);
        return new Hostile("backward: Weight.Grad and Bias.Grad share memory",
                           $"Weight.Grad and Bias.Grad set to one buffer (shift {shift}), Backward(dy {Show(shape)}), both Grads set back",
                           () =>
                           {
                               (weight.Grad, bias.Grad) = (sharedWeight, sharedBias);
                               a.Backward(dy);
                           },
                           () => (weight.Grad, bias.Grad) = (weightGrad, biasGrad),
                           unchanged);
    }

    private Hostile? GradientWrongShape()
    {
        if (a.Weight is null || a.Bias is null) return null;
        bool weight = rng.Next(2) == 0;
        Parameter<T> parameter = weight ? a.Weight : a.Bias;
        nint c = parameter.Data.Lengths[0];
        nint[] wrong = rng.Next(3) switch { 0 => [c + 1], 1 => [1, c], _ => [c, 2] };
        Tensor<T> grad = Make<T>(Values(Count(wrong)), wrong, TwinLayout.RowMajor);
        return new Hostile("Grad setter: wrong shape", $"{(weight ? "Weight" : "Bias")}.Grad = a tensor of shape {Show(wrong)}",
                           () => parameter.Grad = grad);
    }

    private Hostile? ExplainNegativeLength()
    {
        nint[] shape = [.. Enumerable.Range(0, rng.Next(1, 7)).Select(_ => (nint)rng.Next(0, 5))];
        shape[rng.Next(shape.Length)] = -rng.Next(1, 5);
        return new Hostile("Explain: negative length", $"Explain({Show(shape)})", () => a.Explain(shape));
    }

    private Hostile? EpsNotPositive()
    {
        // InstanceNorm does not validate eps (as in PyTorch); BatchNorm needs eps > 0 with batch statistics, >= 0 otherwise.
        if (config.InstanceNorm) return null;
        bool batchStatistics = UsesInputStatistics;
        double[] choices = batchStatistics ? [0.0, -0.0, -1.0, -1e-12, double.NaN, double.NegativeInfinity] : [-1.0, -1e-12, double.NaN, double.NegativeInfinity];
        double eps = choices[rng.Next(choices.Length)], old = a.Eps;
        nint[] shape = InputShape(valid: true);
        TwinLayout layout = DrawLayout();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        Tensor<T>? destination = MaybeDestination(shape, layout);
        Hostile forward = ForwardCall("forward: eps not positive", $"Eps = {eps:R} first, Eps restored after", x, destination);
        return forward with
        {
            Call = () =>
            {
                a.Eps = eps;
                forward.Call();
            },
            Restore = () => a.Eps = old,
        };
    }

    private Hostile? LoadStateDictBad()
    {
        StateDict dict = Perturbed(b.StateDict());
        bool strict = true;
        string defect;
        int choice = rng.Next(a.HasUninitializedParameters ? 4 : 3);
        string[] existing = dict.Keys.Where(k => k != "num_batches_tracked" && !dict[k].IsUninitialized).ToArray();
        if (!a.HasUninitializedParameters && existing.Length > 0 && rng.Next(4) == 0)
        {
            // A lazy layer's uninitialized entry into a tensor that exists: PyTorch's "Can't access the shape ..." (any strict).
            string key = existing[rng.Next(existing.Length)];
            dict[key] = key is "weight" or "bias" ? StateTensor.UninitializedParameter() : StateTensor.UninitializedBuffer(StateDType.Float64);
            defect = $"{key} uninitialized";
            strict = rng.Next(2) == 0;
        }
        else if (choice == 3)
        {
            // Entries that would initialize the lazy layer, and one of them of another length.
            AddInitializingEntries(dict, config.C);
            string[] vectors = dict.Keys.Where(k => k != "num_batches_tracked").ToArray();
            if (vectors.Length >= 2)
            {
                string key = vectors[rng.Next(1, vectors.Length)];
                dict[key] = Vector(key, config.C + 1);
                defect = $"initializing entries, {key} of length {config.C + 1}";
                strict = rng.Next(2) == 0;
            }
            else
            {
                dict["not_a_key"] = Vector("not_a_key", 1);
                defect = "initializing entries and an unexpected key";
            }
        }
        else if (choice == 0 && dict.Count > 0)
        {
            string key = dict.Keys[rng.Next(dict.Count)];
            dict.Remove(key);
            defect = $"missing {key}";
        }
        else if (choice == 1 && dict.Count > 0)
        {
            string key = dict.Keys[rng.Next(dict.Count)];
            StateTensor old = dict[key];
            long Length() => old.IsUninitialized ? config.C : old.Shape[0];
            long[] shape = key == "num_batches_tracked"
                ? rng.Next(2) == 0 ? [2] : [1, 1]
                : a.HasUninitializedParameters || rng.Next(2) == 0 ? [1, Length()] : [Length() + 1];
            dict[key] = Perturbed(key, old, shape);
            defect = $"{key} of shape [{string.Join(", ", shape)}]";
            strict = rng.Next(2) == 0;
        }
        else
        {
            string key = new[] { "weight_g", "bogus", "running_mean.extra", "0.weight" }[rng.Next(4)];
            dict[key] = Vector(key, Math.Max(1, a.NumFeatures));
            defect = $"unexpected key {key}";
            if (rng.Next(3) == 0) dict.Version = null;
        }

        return new Hostile("LoadStateDict: bad dict", $"LoadStateDict({Describe(dict)}, strict: {strict}): {defect}", () => a.LoadStateDict(dict, strict));
    }

    private Hostile? LazyFlagFlipped()
    {
        if (!a.HasUninitializedParameters) return null;
        bool affine = rng.Next(2) == 0, load = rng.Next(3) == 0;
        void Flip()
        {
            if (affine) a.Affine = !a.Affine;
            else a.TrackRunningStats = !a.TrackRunningStats;
        }

        string flag = affine ? "Affine" : "TrackRunningStats";
        if (load)
        {
            StateDict dict = Perturbed(b.StateDict());
            AddInitializingEntries(dict, config.C);
            // An entry that gives C and survives InstanceNorm's dropping of running statistics (TrackRunningStats may be off now).
            if (!dict.ContainsKey("weight")) dict["weight"] = Vector("weight", config.C);
            return new Hostile("lazy: flag flipped before the first forward", $"{flag} flipped, LoadStateDict({Describe(dict)}), {flag} flipped back",
                               () =>
                               {
                                   Flip();
                                   a.LoadStateDict(dict, strict: false);
                               }, Flip);
        }

        nint[] shape = InputShape(valid: true, allowUnbatched: false);
        TwinLayout layout = DrawLayout();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        Hostile forward = ForwardCall("lazy: flag flipped before the first forward", $"{flag} flipped first, flipped back after", x, MaybeDestination(shape, layout));
        return forward with
        {
            Call = () =>
            {
                Flip();
                forward.Call();
            },
            Restore = Flip,
        };
    }

    private Hostile? WarningHandlerThrows()
    {
        if (!config.InstanceNorm || a.TrackRunningStats || a.RunningMean is not null) return null;
        StateDict dict = Perturbed(b.StateDict());
        int c = Channels;
        dict["running_mean"] = Vector("running_mean", c);
        dict["running_var"] = Vector("running_var", c);
        if (rng.Next(2) == 0) dict["num_batches_tracked"] = StateTensor.Scalar(rng.Next(0, 9));
        bool strict = rng.Next(2) == 0, viaCollection = rng.Next(3) == 0;
        NormBase<T> layer = a;
        void Handler(object? sender, NormWarningEventArgs e)
        {
            if (ReferenceEquals(sender, layer)) throw new InvalidOperationException($"warnings are errors here: {e.Message}");
        }

        var collection = new NormModuleCollection("Net") { ["head.norm"] = a };
        var prefixed = new StateDict(dict.Version);
        foreach (var (key, value) in dict) prefixed["head.norm." + key] = value;
        return new Hostile("LoadStateDict: dropped running stats, warning handler throws",
                           $"{(viaCollection ? "NormModuleCollection." : "")}LoadStateDict({Describe(dict)}, strict: {strict}) while a NormWarnings handler throws",
                           () =>
                           {
                               NormWarnings.Raised += Handler;
                               try
                               {
                                   if (viaCollection) collection.LoadStateDict(prefixed, strict);
                                   else a.LoadStateDict(dict, strict);
                               }
                               finally
                               {
                                   NormWarnings.Raised -= Handler;
                               }
                           });
    }

    private Hostile? CollectionLoadBad()
    {
        // Another layer in the same collection: its part must not be applied either.
        NormBase<T> other = new BatchNorm1d<T>(3), pristine = new BatchNorm1d<T>(3);
        var collection = new NormModuleCollection("Net") { ["blk.a"] = a, ["blk.other"] = other };
        StateDict own = Perturbed(b.StateDict()), others = Perturbed(other.StateDict());
        bool strict = true, stray = false;
        string defect;
        switch (rng.Next(5))
        {
            case 0:
                others["running_mean"] = Vector("running_mean", 4);
                defect = "blk.other.running_mean of length 4";
                strict = rng.Next(2) == 0;
                break;
            case 1:
                others.Remove("weight");
                defect = "blk.other.weight missing";
                break;
            case 2 when own.Count > 0:
                string key = own.Keys[rng.Next(own.Count)];
                own[key] = Perturbed(key, own[key], key == "num_batches_tracked" ? [3] : [1, own[key].IsUninitialized ? config.C : own[key].Shape[0]]);
                defect = $"blk.a.{key} of the wrong shape";
                strict = rng.Next(2) == 0;
                break;
            case 3:
                own["bogus"] = Vector("bogus", 2);
                defect = "unexpected blk.a.bogus";
                break;
            default:
                stray = true;
                defect = "key head.bogus under no layer";
                break;
        }

        var dict = new StateDict(2);
        foreach (var (key, value) in own) dict["blk.a." + key] = value;
        foreach (var (key, value) in others) dict["blk.other." + key] = value;
        if (stray) dict["head.bogus"] = Vector("bogus", 2);
        return new Hostile("NormModuleCollection.LoadStateDict: one bad entry",
                           $"NormModuleCollection{{blk.a = this layer, blk.other = BatchNorm1d(3)}}.LoadStateDict({Describe(dict)}, strict: {strict}): {defect}",
                           () => collection.LoadStateDict(dict, strict),
                           PostCheck: () =>
                           {
                               List<nint[]> shapes = [[2, 3]];
                               string? difference = TwinObservation.FirstDifference(TwinObservation.Of(other, shapes), TwinObservation.Of(pristine, shapes),
                                                                                   "blk.other after the failed load", "a new BatchNorm1d(3)");
                               return difference is null ? null : $"the failed collection load changed the other layer (blk.other):\n      {difference}";
                           });
    }

    private Hostile? ChannelWarningHandlerThrows()
    {
        // InstanceNorm without Affine warns (and goes on) on a channel mismatch; a handler that throws stops the forward.
        if (!config.InstanceNorm || a.Affine) return null;
        int c = a.HasUninitializedParameters ? config.C : a.NumFeatures, wrong = c > 1 && rng.Next(2) == 0 ? rng.Next(1, c) : c + rng.Next(1, 3);
        nint[] shape;
        if (a.HasUninitializedParameters)
        {
            // A lazy layer takes C from dim 1, so only an unbatched (C, L, ...) input can mismatch: L != C.
            shape = [c + 1, .. Enumerable.Range(0, config.Dims).Select(d => (nint)(d == 0 ? c : rng.Next(1, 5)))];
        }
        else
        {
            shape = InputShape(valid: true, channels: wrong, allowUnbatched: false);
        }

        TwinLayout layout = DrawLayout();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        NormBase<T> layer = a;
        void Handler(object? sender, NormWarningEventArgs e)
        {
            if (ReferenceEquals(sender, layer)) throw new InvalidOperationException($"warnings are errors here: {e.Message}");
        }

        Hostile forward = ForwardCall("forward: channel-mismatch warning, the handler throws", "a NormWarnings handler throws", x, MaybeDestination(shape, layout));
        return forward with
        {
            Call = () =>
            {
                NormWarnings.Raised += Handler;
                try
                {
                    forward.Call();
                }
                finally
                {
                    NormWarnings.Raised -= Handler;
                }
            },
        };
    }

    private Hostile? LazyInstanceNormUnbatchedFirstInput()
    {
        // PyTorch's lazy InstanceNorm reads C at dim 1 even for an unbatched (C, L, ...) input: with Affine, the channel check
        // then fails (unless L happens to equal C), after the lazy initialization, which must be undone.
        if (!config.InstanceNorm || !a.HasUninitializedParameters || !a.Affine) return null;
        int c = config.C;
        nint[] shape = [c, .. Enumerable.Range(0, config.Dims).Select(d => (nint)(d == 0 ? c + 1 : rng.Next(1, 5)))];
        TwinLayout layout = DrawLayout();
        Tensor<T> x = Make<T>(Values(Count(shape)), shape, layout);
        return ForwardCall("lazy InstanceNorm: unbatched first input", "C is read at dim 1 and the channel check fails", x, MaybeDestination(shape, layout));
    }

    private Hostile? ResetWithoutBuffers()
    {
        bool noBuffers = a.TrackRunningStats && (a.RunningMean is null || a.RunningVar is null || a.NumBatchesTracked is null);
        bool statisticsThrow = (a.HasUninitializedParameters && a.TrackRunningStats) || noBuffers;
        bool parametersThrow = !a.HasUninitializedParameters && (noBuffers || (a.Affine && a.Weight is null));
        if (statisticsThrow && (!parametersThrow || rng.Next(2) == 0))
            return new Hostile("reset without the tensors the flags ask for", "ResetRunningStats()", a.ResetRunningStats);
        if (parametersThrow)
            return new Hostile("reset without the tensors the flags ask for", "ResetParameters()", a.ResetParameters);
        return null;
    }
}
