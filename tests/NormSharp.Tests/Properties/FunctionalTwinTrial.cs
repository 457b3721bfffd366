using System.Numerics;
using static NormSharp.Tests.Properties.TwinTensors;

namespace NormSharp.Tests.Properties;

/// <summary>
/// One trial of "a call that throws changes nothing" on <see cref="Functional"/>: every tensor of a call (input,
/// destination, running_mean, running_var, weight, bias) is a view into one buffer, so that hostile calls can make them
/// overlap; a hostile call must throw and leave the whole buffer bit-identical. Then the valid call runs on that buffer and
/// on a copy taken before the hostile call (the twin): results and buffers must be equal.
/// </summary>
internal sealed class FunctionalTwinTrial<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private enum Op
    {
        BatchNorm,
        BatchNormInto,
        NativeBatchNorm,
        InstanceNorm,
        InstanceNormInto,
    }

    /// <summary>A view into the shared buffer.</summary>
    private sealed record Region(int Start, nint[] Lengths, nint[] Strides)
    {
        public long Extent => Count(Lengths) == 0 ? 0 : 1 + Lengths.Select((l, d) => (long)(l - 1) * Strides[d]).Sum();

        public override string ToString() => $"{Show(Lengths)}@{Start}{(Count(Lengths) > 1 && !Strides.SequenceEqual(RowMajorStrides(Lengths)) ? $" strides {Show(Strides)}" : "")}";
    }

    private sealed record Call(Op Op, Region Input, Region? Destination, Region? RunningMean, Region? RunningVar, Region? Weight, Region? Bias,
                               bool Training, double Momentum, double Eps)
    {
        public override string ToString() =>
            $"{Op}(input {Input}, running_mean {Show(RunningMean)}, running_var {Show(RunningVar)}, weight {Show(Weight)}, bias {Show(Bias)}, " +
            $"{(Op is Op.InstanceNorm or Op.InstanceNormInto ? "useInputStats" : "training")}: {Training}, momentum: {Momentum:R}, eps: {Eps:R}" +
            $"{(Destination is null ? "" : $", destination {Destination}")})";

        private static string Show(Region? region) => region?.ToString() ?? "null";
    }

    private readonly Random rng;
    private int next = 4;
    private readonly List<(string Name, Region Region)> named = [];

    public FunctionalTwinTrial(Random rng) => this.rng = rng;

    public TwinResult Run()
    {
        Call valid = DrawValidCall();
        (Call hostile, string kind, string defect) = DrawHostile(valid);
        var buffer = new T[next + 2100];
        double[] values = new double[buffer.Length];
        for (int i = 0; i < values.Length; i++) values[i] = rng.NextDouble() * 6 - 3;
        foreach (Region? variance in new[] { valid.RunningVar, hostile.RunningVar })
            if (variance is not null)
                for (int i = variance.Start; i < variance.Start + variance.Extent; i++) values[i] = 0.2 + Math.Abs(values[i]);
        for (int i = 0; i < buffer.Length; i++) buffer[i] = T.CreateTruncating(values[i]);
        T[] twin = (T[])buffer.Clone();

        string report = $"\n    valid call:   {valid}\n    hostile call: {hostile}\n    defect: {defect}";
        Exception? thrown = null;
        try
        {
            Invoke(hostile, buffer);
        }
        catch (Exception e)
        {
            thrown = e;
        }

        if (thrown is null) return new TwinResult(TwinVerdict.NotThrown, kind, "the hostile call did not throw" + report);
        if (thrown is not (ArgumentException or InvalidOperationException))
            return new TwinResult(TwinVerdict.Failed, kind, $"the hostile call threw {thrown.GetType().FullName}:\n{thrown}{report}");
        report += $"\n    threw {thrown.GetType().Name}: {thrown.Message.Split('\n')[0]}";
        if (FirstChange(twin, buffer) is string changed)
            return new TwinResult(TwinVerdict.Failed, kind, $"the failed call changed the caller's memory: {changed}{report}");

        string outcome = Outcome(valid, buffer), twinOutcome = Outcome(valid, twin);
        if (outcome != twinOutcome)
            return new TwinResult(TwinVerdict.Failed, kind, $"the valid call after the failed one differs from its twin:\n      after the failed call: {outcome}\n      twin: {twinOutcome}{report}");
        if (FirstChange(twin, buffer) is string differs)
            return new TwinResult(TwinVerdict.Failed, kind, $"the valid call after the failed one left other values than its twin: {differs}{report}");
        ValidSucceeded = outcome.StartsWith("ok", StringComparison.Ordinal);
        return new TwinResult(TwinVerdict.Passed, kind, "", $"{thrown.GetType().Name}: {thrown.Message.Split('\n')[0]}");
    }

    /// <summary>Whether the valid call (run after the hostile one) succeeded: most should.</summary>
    public bool ValidSucceeded { get; private set; }

    private string? FirstChange(T[] before, T[] after)
    {
        for (int i = 0; i < before.Length; i++)
        {
            if (BitConverter.DoubleToInt64Bits(double.CreateTruncating(before[i])) == BitConverter.DoubleToInt64Bits(double.CreateTruncating(after[i]))) continue;
            string owners = string.Join(", ", named.Where(n => Covers(n.Region, i)).Select(n => n.Name).Distinct());
            return $"element {i} ({(owners.Length == 0 ? "outside every argument" : owners)}) was {before[i]}, is {after[i]}";
        }

        return null;
    }

    private static bool Covers(Region region, int index) => index >= region.Start && index < region.Start + region.Extent;

    private static string Outcome(Call call, T[] buffer)
    {
        try
        {
            return "ok " + Invoke(call, buffer);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return $"threw {e.GetType().Name}: {e.Message}";
        }
    }

    private static Tensor<T>? View(Region? region, T[] buffer) => region is null ? null : TwinTensors.View(buffer, region.Start, region.Lengths, region.Strides);

    /// <summary>Runs the call on tensors over <paramref name="buffer"/>; returns the bits of what it returned.</summary>
    private static string Invoke(Call call, T[] buffer)
    {
        Tensor<T> input = View(call.Input, buffer)!;
        Tensor<T>? rm = View(call.RunningMean, buffer), rv = View(call.RunningVar, buffer), w = View(call.Weight, buffer), b = View(call.Bias, buffer);
        Tensor<T>? destination = call.Destination is null ? null : call.Destination == call.Input ? input : View(call.Destination, buffer);
        switch (call.Op)
        {
            case Op.BatchNorm:
                return Bits(Functional.BatchNorm(input, rm, rv, w, b, call.Training, call.Momentum, call.Eps));
            case Op.BatchNormInto:
                Functional.BatchNorm(input, rm, rv, w, b, call.Training, call.Momentum, call.Eps, destination!);
                return "";
            case Op.NativeBatchNorm:
                BatchNormResult<T> result = Functional.NativeBatchNorm(input, w, b, rm, rv, call.Training, call.Momentum, call.Eps);
                return $"{Bits(result.Output)} mean {Bits(result.SaveMean)} invstd {Bits(result.SaveInvStd)}";
            case Op.InstanceNorm:
                return Bits(Functional.InstanceNorm(input, rm, rv, w, b, call.Training, call.Momentum, call.Eps));
            default:
                Functional.InstanceNorm(input, rm, rv, w, b, call.Training, call.Momentum, call.Eps, destination!);
                return "";
        }
    }

    // ---- Building calls -----------------------------------------------------------------------------------------------

    private Region Allocate(string name, nint[] lengths, nint[] strides, int gap = 4)
    {
        var region = new Region(next, lengths, strides);
        next += (int)region.Extent + gap;
        named.Add((name, region));
        return region;
    }

    private Region Dense(string name, nint[] lengths) => Allocate(name, lengths, RowMajorStrides(lengths));

    /// <summary>A (C) argument: dense, or (one time in three, when C &gt; 1) every second or third element of a larger array, as
    /// PyTorch accepts any strides.</summary>
    private Region PerChannel(string name, int c) => c > 1 && rng.Next(3) == 0 ? Allocate($"{name} (strided)", [c], [rng.Next(2, 4)]) : Dense(name, [c]);

    private Region Input(nint[] shape, bool channelsLastAllowed)
    {
        int pick = rng.Next(10);
        nint[] strides = pick < 2 && channelsLastAllowed && shape.Length is 4 or 5 ? ChannelsLastStrides(shape)
            : pick == 2 ? RowMajorStrides(shape, 2)
            : RowMajorStrides(shape);
        return Allocate("input", shape, strides);
    }

    private Region DestinationFor(Region input, bool batchNorm)
    {
        bool channelsLast = batchNorm && input.Lengths.Length is 4 or 5 && !IsRowMajor(input) && input.Strides.SequenceEqual(ChannelsLastStrides(input.Lengths));
        if ((IsRowMajor(input) || channelsLast) && rng.Next(4) == 0) return input; // in place (a strided input has no destination layout)
        return Allocate("destination", input.Lengths, channelsLast ? ChannelsLastStrides(input.Lengths) : RowMajorStrides(input.Lengths));
    }

    private static bool IsRowMajor(Region region)
    {
        nint expected = 1;
        for (int d = region.Lengths.Length - 1; d >= 0; d--)
        {
            if (region.Lengths[d] != 1 && region.Strides[d] != expected) return false;
            expected *= region.Lengths[d];
        }

        return true;
    }

    private static long PerChannel(nint[] shape, bool instance)
    {
        long count = instance ? 1 : shape[0];
        for (int d = 2; d < shape.Length; d++) count *= shape[d];
        return count;
    }

    private Call DrawValidCall()
    {
        var op = (Op)rng.Next(5);
        bool instance = op is Op.InstanceNorm or Op.InstanceNormInto;
        int rank = instance ? rng.Next(3, 6) : rng.Next(2, 6);
        int c = rng.Next(1, 6);
        var shape = new List<nint> { rng.Next(12) == 0 ? 0 : rng.Next(1, 7), c };
        while (shape.Count < rank) shape.Add(rng.Next(1, 5));
        nint[] lengths = [.. shape];
        bool training = rng.Next(2) == 0;
        if (training && PerChannel(lengths, instance) == 1)
        {
            if (instance) lengths[^1] = 2;
            else lengths[0] = 2;
        }

        bool running = !training || rng.Next(10) < 7;
        bool affine = !(instance && lengths[0] == 0);
        Region input = Input(lengths, channelsLastAllowed: !instance);
        Region? destination = op is Op.BatchNormInto or Op.InstanceNormInto ? DestinationFor(input, !instance) : null;
        Region? rm = running ? PerChannel("running_mean", c) : null, rv = running ? PerChannel("running_var", c) : null;
        Region? w = affine && rng.Next(2) == 0 ? PerChannel("weight", c) : null, b = affine && rng.Next(2) == 0 ? PerChannel("bias", c) : null;
        double eps = rng.Next(3) == 0 ? 1e-5 : 1e-6 + rng.NextDouble() * 1e-2;
        return new Call(op, input, destination, rm, rv, w, b, training, Math.Round(rng.NextDouble(), 3), eps);
    }

    private (Call Hostile, string Kind, string Defect) DrawHostile(Call valid)
    {
        Func<Call, (Call, string, string)?>[] kinds =
        [
            RankTooLow, WrongLength, OneValue, EpsNotPositive, MissingRunningStatistics, DestinationWrongShape, DestinationWrongLayout,
            DestinationOverlapsInput, DestinationOverlapsArgument, RunningStatisticsOverlap, RunningStatisticOverlapsInput,
            RunningStatisticRepeatsElements, EmptyBatchWithAffine,
        ];
        foreach (int i in Enumerable.Range(0, kinds.Length).OrderBy(_ => rng.Next()).ToArray())
            if (kinds[i](valid) is var (call, kind, defect)) return (call, kind, defect);
        throw new InvalidOperationException("unreachable: RankTooLow always applies");
    }

    private static bool IsInstance(Call call) => call.Op is Op.InstanceNorm or Op.InstanceNormInto;

    private static bool IsInto(Call call) => call.Op is Op.BatchNormInto or Op.InstanceNormInto;

    private static bool NonEmpty(Call call) => Count(call.Input.Lengths) > 0;

    private (Call, string, string)? RankTooLow(Call valid)
    {
        nint[] shape = [rng.Next(1, 5)];
        Region input = Dense("input (rank 1)", shape);
        Region? destination = IsInto(valid) ? Dense("destination (rank 1)", shape) : null;
        return (valid with { Input = input, Destination = destination }, "rank below 2", $"input of shape {Show(shape)}");
    }

    private (Call, string, string)? WrongLength(Call valid)
    {
        if (!NonEmpty(valid)) return null;
        var present = new List<string>();
        if (valid.RunningMean is not null) present.Add("running_mean");
        if (valid.RunningVar is not null) present.Add("running_var");
        if (valid.Weight is not null) present.Add("weight");
        if (valid.Bias is not null) present.Add("bias");
        if (present.Count == 0) return null;
        string name = present[rng.Next(present.Count)];
        nint c = valid.Input.Lengths[1], wrong = c > 1 && rng.Next(2) == 0 ? c - 1 : c + 1;
        Region region = Dense(name + " (wrong length)", [wrong]);
        Call call = name switch
        {
            "running_mean" => valid with { RunningMean = region },
            "running_var" => valid with { RunningVar = region },
            "weight" => valid with { Weight = region },
            _ => valid with { Bias = region },
        };
        return (call, "argument of the wrong length", $"{name} of length {wrong} for {c} channels");
    }

    private (Call, string, string)? OneValue(Call valid)
    {
        if (!valid.Training) return null;
        nint[] shape = (nint[])valid.Input.Lengths.Clone();
        if (!IsInstance(valid)) shape[0] = 1;
        for (int d = 2; d < shape.Length; d++) shape[d] = 1;
        Region input = Dense("input (one value per statistic)", shape);
        Region? destination = IsInto(valid) ? Dense("destination", shape) : null;
        return (valid with { Input = input, Destination = destination }, "one value per statistic", $"input {Show(shape)} with input statistics");
    }

    private (Call, string, string)? EpsNotPositive(Call valid)
    {
        if (IsInstance(valid)) return null; // InstanceNorm does not validate eps, as in PyTorch
        double[] choices = valid.Training ? [0.0, -0.0, -1.0, double.NaN, double.NegativeInfinity] : [-1.0, -1e-12, double.NaN, double.NegativeInfinity];
        double eps = choices[rng.Next(choices.Length)];
        return (valid with { Eps = eps }, "eps out of range", $"eps = {eps:R}");
    }

    private (Call, string, string)? MissingRunningStatistics(Call valid)
    {
        bool needed = IsInstance(valid) ? !valid.Training : !valid.Training && NonEmpty(valid);
        if (!needed) return null;
        bool mean = rng.Next(2) == 0;
        return (mean ? valid with { RunningMean = null } : valid with { RunningVar = null }, "running statistics missing where they normalize",
                $"{(mean ? "running_mean" : "running_var")} = null");
    }

    private (Call, string, string)? DestinationWrongShape(Call valid)
    {
        if (!IsInto(valid)) return null;
        nint[] shape = (nint[])valid.Input.Lengths.Clone();
        shape[rng.Next(shape.Length)] += 1;
        return (valid with { Destination = Dense("destination (wrong shape)", shape) }, "destination of the wrong shape", $"destination {Show(shape)}");
    }

    private (Call, string, string)? DestinationWrongLayout(Call valid)
    {
        if (!IsInto(valid) || Count(valid.Input.Lengths) < 2) return null;
        nint[] shape = valid.Input.Lengths;
        return (valid with { Destination = Allocate("destination (strided)", shape, RowMajorStrides(shape, 2)) }, "destination of the wrong layout", "a strided destination");
    }

    private (Call, string, string)? DestinationOverlapsInput(Call valid)
    {
        if (!IsInto(valid) || Count(valid.Input.Lengths) < 2 || valid.Input.Start != 4) return null;
        // The input is the first region, with 4 free elements on each side: shifted by 1 to 3 (less than its count), the
        // destination overlaps only it, and partially.
        int count = (int)Count(valid.Input.Lengths), shift = rng.Next(1, Math.Min(3, count - 1) + 1) * (rng.Next(2) == 0 ? 1 : -1);
        Region input = valid.Input with { Strides = RowMajorStrides(valid.Input.Lengths) };
        Region destination = new(input.Start + shift, input.Lengths, input.Strides);
        named.Add(("destination (overlapping the input)", destination));
        return (valid with { Input = input, Destination = destination }, "destination partially overlaps the input", $"destination = input shifted by {shift}");
    }

    private (Call, string, string)? DestinationOverlapsArgument(Call valid)
    {
        if (!IsInto(valid) || !NonEmpty(valid)) return null;
        var others = new List<(string Name, Region Region)>();
        if (valid.RunningMean is not null) others.Add(("running_mean", valid.RunningMean));
        if (valid.RunningVar is not null) others.Add(("running_var", valid.RunningVar));
        if (valid.Weight is not null) others.Add(("weight", valid.Weight));
        if (valid.Bias is not null) others.Add(("bias", valid.Bias));
        if (others.Count == 0) return null;
        var (name, target) = others[rng.Next(others.Count)];
        int count = (int)Count(valid.Input.Lengths), back = rng.Next(0, Math.Min(count - 1, target.Start) + 1);
        Region input = valid.Input with { Strides = RowMajorStrides(valid.Input.Lengths) };
        Region destination = new(target.Start - back, input.Lengths, RowMajorStrides(input.Lengths));
        named.Add(($"destination (overlapping {name})", destination));
        next = Math.Max(next, destination.Start + count + 4);
        return (valid with { Input = input, Destination = destination }, "destination overlaps another argument", $"destination overlaps {name}");
    }

    private (Call, string, string)? RunningStatisticsOverlap(Call valid)
    {
        // Written in training (BatchNorm) and always (InstanceNorm): then running_mean and running_var must not overlap.
        if (valid.RunningMean is null || valid.RunningVar is null || !NonEmpty(valid) || !(valid.Training || IsInstance(valid))) return null;
        int c = (int)valid.RunningMean.Lengths[0], shift = rng.Next(0, c);
        Region variance = valid.RunningMean with { Start = valid.RunningMean.Start + shift };
        named.Add(("running_var (overlapping running_mean)", variance));
        return (valid with { RunningVar = variance }, "running_mean and running_var overlap", $"running_var = running_mean shifted by {shift}");
    }

    private (Call, string, string)? RunningStatisticOverlapsInput(Call valid)
    {
        if (valid.RunningMean is null || !NonEmpty(valid) || !(valid.Training || IsInstance(valid))) return null;
        int count = (int)Count(valid.Input.Lengths);
        Region mean = valid.RunningMean with { Start = valid.Input.Start + rng.Next(0, count) };
        named.Add(("running_mean (overlapping the input)", mean));
        return (valid with { RunningMean = mean }, "a running statistic overlaps the input", $"running_mean inside the input at {mean.Start}");
    }

    private (Call, string, string)? RunningStatisticRepeatsElements(Call valid)
    {
        // Written by the call (BatchNorm in training; InstanceNorm with input statistics, both buffers and N > 0) and a
        // broadcast view (stride 0): refused, where PyTorch writes it in an undefined order.
        if (valid.RunningMean is null || valid.RunningVar is null || valid.RunningMean.Lengths[0] < 2 || !valid.Training || !NonEmpty(valid)) return null;
        nint[] lengths = valid.RunningMean.Lengths;
        bool mean = rng.Next(2) == 0;
        Region broadcast = Allocate($"{(mean ? "running_mean" : "running_var")} (stride 0)", lengths, [0]);
        return (mean ? valid with { RunningMean = broadcast } : valid with { RunningVar = broadcast }, "written running statistic repeats an element",
                "a running statistic with stride 0");
    }

    private (Call, string, string)? EmptyBatchWithAffine(Call valid)
    {
        // libtorch fails on an empty batch with weight or bias; so does NormSharp.
        if (!IsInstance(valid)) return null;
        nint[] shape = (nint[])valid.Input.Lengths.Clone();
        shape[0] = 0;
        Region input = Dense("input (empty batch)", shape);
        Region weight = Dense("weight", [shape[1]]);
        Region? destination = IsInto(valid) ? Dense("destination (empty batch)", shape) : null;
        return (valid with { Input = input, Weight = weight, Destination = destination }, "InstanceNorm: empty batch with weight", $"input {Show(shape)} and a weight");
    }
}
