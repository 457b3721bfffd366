using CsCheck;
using static NormSharp.Tests.TestData;

namespace NormSharp.Tests.Properties;

/// <summary>
/// Backward against central finite differences of the forward, in double, on random small cases:
/// L(x, w, b) = Σ y·g for a fixed random g, so dL/dx is Backward(g).
/// </summary>
public class GradientCheckProperties
{
    private const double Step = 1e-6;

    private sealed record GradCase(NormCase Input, double[] Upstream, double[] Weight, double[] Bias, bool Eval, double RunningMean, double RunningVar)
    {
        public override string ToString() => $"{Input}, eval {Eval}, rm {RunningMean:R}, rv {RunningVar:R}";
    }

    private static readonly Gen<GradCase> Cases =
        from input in NormCase.Gen
        from upstream in Gen.Double[-1, 1].Array[input.Values.Length]
        from weight in Gen.Double[0.5, 2].Array[input.C]
        from bias in Gen.Double[-1, 1].Array[input.C]
        from eval in Gen.Bool
        from rm in Gen.Double[-1, 1]
        from rv in Gen.Double[0.5, 2]
        select new GradCase(input, upstream, weight, bias, eval, rm, rv);

    private static BatchNorm<double> Layer(GradCase c, double[] weight, double[] bias)
    {
        BatchNorm<double> bn = c.Input.Layer<double>();
        weight.CopyTo(bn.Weight!.Data.GetSpan([0], weight.Length));
        bias.CopyTo(bn.Bias!.Data.GetSpan([0], bias.Length));
        bn.RunningMean!.Fill(c.RunningMean);
        bn.RunningVar!.Fill(c.RunningVar);
        bn.Train(!c.Eval);
        return bn;
    }

    private static double Loss(GradCase c, double[] x, double[] weight, double[] bias)
    {
        double[] y = Values(Layer(c, weight, bias).Forward(Tensor.Create(x, c.Input.Shape)));
        return y.Select((v, i) => v * c.Upstream[i]).Sum();
    }

    private static double Central(Func<double, double> f, double at) => (f(at + Step) - f(at - Step)) / (2 * Step);

    [Fact]
    public void Backward_MatchesCentralFiniteDifferences_ForInputWeightAndBias()
    {
        Cases.Sample(c =>
        {
            // Finite differences of a normalization are meaningless for a (nearly) constant channel, where invStd is
            // about 1/sqrt(eps) and the forward's rounding dominates: rescale, and add a ramp so no channel is constant.
            // Centring keeps |mean|·invStd small, so the forward's rounding stays far below the step's effect.
            double middle = (c.Input.Values.Max() + c.Input.Values.Min()) / 2;
            double range = c.Input.Values.Max() - c.Input.Values.Min() + 1e-3;
            double[] x = c.Input.Values.Select((v, k) => (v - middle) / range + 0.37 * (k % 7)).ToArray();
            BatchNorm<double> bn = Layer(c, c.Weight, c.Bias);
            bn.Forward(Tensor.Create((double[])x.Clone(), c.Input.Shape));
            double[] dx = Values(bn.Backward(Tensor.Create(c.Upstream, c.Input.Shape)));
            double[] dw = Values(bn.Weight!.Grad!), db = Values(bn.Bias!.Grad!);

            for (int k = 0; k < x.Length; k += Math.Max(1, x.Length / 12))
            {
                double numeric = Central(v => { double[] xs = (double[])x.Clone(); xs[k] = v; return Loss(c, xs, c.Weight, c.Bias); }, x[k]);
                Assert.True(Math.Abs(numeric - dx[k]) <= 1e-5 * (1 + Math.Abs(numeric)), $"dx[{k}]: numeric {numeric:R}, backward {dx[k]:R}");
            }

            for (int ch = 0; ch < c.Input.C; ch++)
            {
                double numericW = Central(v => { double[] w = (double[])c.Weight.Clone(); w[ch] = v; return Loss(c, x, w, c.Bias); }, c.Weight[ch]);
                double numericB = Central(v => { double[] b = (double[])c.Bias.Clone(); b[ch] = v; return Loss(c, x, c.Weight, b); }, c.Bias[ch]);
                Assert.True(Math.Abs(numericW - dw[ch]) <= 1e-5 * (1 + Math.Abs(numericW)), $"dw[{ch}]: numeric {numericW:R}, backward {dw[ch]:R}");
                Assert.True(Math.Abs(numericB - db[ch]) <= 1e-5 * (1 + Math.Abs(numericB)), $"db[{ch}]: numeric {numericB:R}, backward {db[ch]:R}");
            }
        }, iter: 100);
    }
}
