using CsCheck;
using NormSharp.Tests.Reference;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Properties;

/// <summary>
/// The statistics policies' defaults are PyTorch's behaviour, bit for bit. A layer whose policies were set to
/// random values and then put back to the defaults behaves exactly as a fresh layer (outputs, running statistics, counter,
/// dx and parameter gradients compared by their bits, over random flags, modes and shapes), a fresh BatchNorm matches the
/// naive reference of PyTorch's formulas, and under random policies a forward that throws changes nothing.
/// </summary>
public class PolicyDefaultProperties
{
    /// <summary>One case: an input, a layer kind, its flags and mode, and a random policy setting that is reset afterwards.</summary>
    public sealed record PolicyCase(NormCase Input, bool Instance, bool Affine, bool Track, double? Momentum, bool Training, int Forwards,
                                    bool FreezeStatistics, bool FreezeParameters, SmallBatchPolicy Small, EmptyBatchPolicy Empty, NonFinitePolicy NonFinite,
                                    int? VirtualBatchSize = null)
    {
        public NormBase<double> Layer()
        {
            int rank = Input.Shape.Length;
            int c = Input.C;
            NormBase<double> layer = Instance
                ? rank switch
                {
                    3 => new InstanceNorm1d<double>(c, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    4 => new InstanceNorm2d<double>(c, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    _ => new InstanceNorm3d<double>(c, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                }
                : rank switch
                {
                    2 or 3 => new BatchNorm1d<double>(c, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    4 => new BatchNorm2d<double>(c, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                    _ => new BatchNorm3d<double>(c, momentum: Momentum, affine: Affine, trackRunningStats: Track),
                };
            if (Training) layer.Train(); else layer.Eval();
            return layer;
        }

        public void SetPolicies(NormBase<double> layer)
        {
            layer.FreezeStatistics = FreezeStatistics;
            layer.FreezeParameters = FreezeParameters;
            layer.SmallBatchPolicy = Small;
            layer.EmptyBatchPolicy = Empty;
            layer.NonFinitePolicy = NonFinite;
            layer.VirtualBatchSize = VirtualBatchSize;
        }

        public override string ToString() =>
            $"{(Instance ? "InstanceNorm" : "BatchNorm")} {Input} affine {Affine} track {Track} momentum {Momentum?.ToString() ?? "null"} " +
            $"training {Training} x{Forwards}; policies {FreezeStatistics}/{FreezeParameters}/{Small}/{Empty}/{NonFinite}/virtual {VirtualBatchSize}";
    }

    private static readonly Gen<PolicyCase> Cases =
        from input in NormCase.Gen
        from instance in Gen.Bool
        from affine in Gen.Bool
        from track in Gen.Bool
        from momentum in Gen.Frequency((3, Gen.Double[0, 1].Select(m => (double?)m)), (1, Gen.Const((double?)null)))
        from training in Gen.Bool
        from forwards in Gen.Int[1, 3]
        from freezeStatistics in Gen.Bool
        from freezeParameters in Gen.Bool
        from small in Gen.Enum<SmallBatchPolicy>()
        from empty in Gen.Enum<EmptyBatchPolicy>()
        from nonFinite in Gen.Enum<NonFinitePolicy>()
        from virtualBatchSize in Gen.Frequency((1, Gen.Const((int?)null)), (1, Gen.Int[1, 3].Select(k => (int?)k)))
        where !instance || input.Shape.Length >= 3
        select new PolicyCase(input, instance, affine, track, momentum, training, forwards, freezeStatistics, freezeParameters, small, empty, nonFinite,
                              virtualBatchSize);

    private static long[] Bits(Tensor<double>? tensor) =>
        tensor is null ? [] : Values(tensor).Select(BitConverter.DoubleToInt64Bits).ToArray();

    /// <summary>Everything observable about a layer, as bits.</summary>
    private static string State(NormBase<double> layer) =>
        string.Join("|", Bits(layer.RunningMean).Concat(Bits(layer.RunningVar)).Concat(Bits(layer.Weight?.Data)).Concat(Bits(layer.Bias?.Data))
                           .Concat(Bits(layer.Weight?.Grad)).Concat(Bits(layer.Bias?.Grad))) + $"#{layer.NumBatchesTracked}";

    /// <summary>Forward (several times, with shifted inputs), then backward of a fixed dy: the outputs and dx as bits, or the error.</summary>
    private static string Run(NormBase<double> layer, PolicyCase testCase)
    {
        var log = new List<string>();
        for (int k = 0; k < testCase.Forwards; k++)
        {
            Tensor<double> x = Tensor.Create(testCase.Input.Values.Select(v => v + k * 0.25).ToArray(), testCase.Input.Shape);
            try
            {
                log.Add(string.Join(",", Bits(layer.Forward(x))));
                Tensor<double> dy = Tensor.Create(testCase.Input.Values.Select((v, i) => Math.Sin(i + k) * 0.5).ToArray(), testCase.Input.Shape);
                log.Add(string.Join(",", Bits(layer.Backward(dy))));
            }
            catch (ArgumentException error)
            {
                log.Add("error: " + error.Message);
            }

            log.Add(State(layer));
        }

        return string.Join("\n", log);
    }

    [Fact]
    public void Defaults_AreBitIdentical_ToPoliciesSetThenReset()
    {
        Cases.Sample(testCase =>
        {
            NormBase<double> fresh = testCase.Layer();
            NormBase<double> reset = testCase.Layer();
            testCase.SetPolicies(reset);
            reset.FreezeStatistics = false;
            reset.FreezeParameters = false;
            reset.SmallBatchPolicy = SmallBatchPolicy.Error;
            reset.EmptyBatchPolicy = EmptyBatchPolicy.PyTorch;
            reset.NonFinitePolicy = NonFinitePolicy.Propagate;
            reset.VirtualBatchSize = null;
            Assert.Equal(Run(fresh, testCase), Run(reset, testCase));
        }, iter: 300);
    }

    [Fact]
    public void Defaults_TrainingBatchNorm_MatchesPyTorchsFormulas()
    {
        Cases.Where(c => !c.Instance).Sample(testCase =>
        {
            NormBase<double> layer = testCase.Layer();
            testCase.SetPolicies(layer);
            layer.FreezeStatistics = false;
            layer.FreezeParameters = false;
            layer.SmallBatchPolicy = SmallBatchPolicy.Error;
            layer.EmptyBatchPolicy = EmptyBatchPolicy.PyTorch;
            layer.NonFinitePolicy = NonFinitePolicy.Propagate;
            layer.VirtualBatchSize = null;
            layer.Train();
            var (n, c, s) = (testCase.Input.N, testCase.Input.C, testCase.Input.S);
            var (mean, varB, varU) = NaiveBatchNorm.Statistics(testCase.Input.Values, n, c, s);
            double[] y = Values(layer.Forward(testCase.Input.Doubles()));
            AllClose(NaiveBatchNorm.Normalize(testCase.Input.Values, n, c, s, mean, varB, 1e-5), y, 1e-10);
            if (testCase.Track)
            {
                double factor = testCase.Momentum ?? 1.0;
                AllClose(mean.Select(m => factor * m).ToArray(), Values(layer.RunningMean!), 1e-10, 1e-12);
                AllClose(varU.Select(v => (1 - factor) + factor * v).ToArray(), Values(layer.RunningVar!), 1e-10, 1e-12);
                Assert.Equal(1, layer.NumBatchesTracked);
            }
        }, iter: 200);
    }

    [Fact]
    public void UnderEveryPolicy_AFailingForward_ChangesNothing()
    {
        Gen.Select(Cases, Gen.Int[0, 2]).Sample((testCase, failure) =>
        {
            NormBase<double> twin = testCase.Layer(), hit = testCase.Layer();
            testCase.SetPolicies(twin);
            testCase.SetPolicies(hit);
            string history = Run(twin, testCase);
            Assert.Equal(history, Run(hit, testCase));

            nint[] shape = (nint[])testCase.Input.Shape.Clone();
            double[] values = (double[])testCase.Input.Values.Clone();
            switch (failure)
            {
                case 0: shape[1] += 1; values = new double[values.Length / testCase.Input.C * (testCase.Input.C + 1)]; break;  // wrong channel count
                case 1: values[0] = double.NaN; hit.NonFinitePolicy = NonFinitePolicy.Throw; break;                       // non-finite, Throw
                default: shape = shape[..1]; values = new double[(int)shape[0]]; break;                                        // wrong rank
            }

            string before = State(hit);
            try
            {
                hit.Forward(Tensor.Create(values, shape));
                if (failure == 1) hit.NonFinitePolicy = testCase.NonFinite;
                return;  // the call did not throw (e.g. running statistics normalize): nothing to check
            }
            catch (ArgumentException)
            {
            }

            hit.NonFinitePolicy = testCase.NonFinite;
            Assert.Equal(before, State(hit));
            // The record Backward reads is the last successful forward's: the same dx as the twin's.
            Tensor<double> dy = Tensor.Create(testCase.Input.Values.Select((v, i) => Math.Cos(i) * 0.5).ToArray(), testCase.Input.Shape);
            string TryBackward(NormBase<double> layer)
            {
                try { return string.Join(",", Bits(layer.Backward(dy))) + State(layer); }
                catch (InvalidOperationException error) { return error.Message; }
            }

            Assert.Equal(TryBackward(twin), TryBackward(hit));
            Assert.Equal(Run(twin, testCase), Run(hit, testCase));
        }, iter: 300);
    }
}
