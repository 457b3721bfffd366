namespace NormSharp.Oracle.Tests;

/// <summary>
/// Every tolerance of the differential suite, in one place, with its reasoning.
/// </summary>
/// <remarks>
/// <para>u is the unit roundoff of the element type (2^-24 for float, 2^-53 for double); n the values
/// per channel (N·S). Neither side is exact, so a bound must cover both roundings:</para>
/// <list type="bullet">
/// <item>libtorch folds the output as <c>y = fma(x, alpha, beta)</c> with <c>beta = b - mean·alpha</c>: its
/// error is a few u times (|x| + |mean|)·invStd·|w| + |b|, large when |mean| ≫ std (values around 1e4 with
/// std 1). NormSharp's transform keeps the mean out of the rounding (its error is a few u times |y| + |b|,
/// see <c>BatchNormTransform</c>), so this term is libtorch's; <c>OffsetAccuracyOracleTests</c> checks that
/// NormSharp is never the less accurate of the two on such data.</item>
/// <item>libtorch accumulates float statistics of (N, C) and channels-last inputs in float (NormSharp
/// always in double), so its mean may be off by about n·u·max|x|: hence the factor (16 + 2n). The constant
/// 16 covers the roundings of the fold and of invStd on both sides (each side up to about 3u of the scale;
/// the largest share seen in double for small n was about 40% of the earlier constant 8).</item>
/// <item>In evaluation the output also inherits the running statistics' own tolerance from the forwards that
/// updated them: δmean·invStd·|w| plus |x̂·w|·δvar / (2(var + eps)).</item>
/// <item>running_mean: the same (8 + 2n)·u relative to max|x|. running_var: (8 + 4n)·u relative to the
/// variance, plus twice the square of libtorch's possible mean error (a shifted centre adds δ² to the
/// variance).</item>
/// </list>
/// <item>Gradients: dx = w·invStd·(dy - Σdy/M - x̂·Σ(dy·x̂)/M) is a difference of sums over M values, so its
/// error is about (16 + 4n)·u·w·invStd·max|dy|·(1 + max|x̂|²), times the conditioning 1 + (|x| + |mean|)·invStd
/// of libtorch's float subtraction x - mean (NormSharp's dx does not carry it: <c>BatchNormBackward</c>).
/// dweight = Σ dy·x̂ and dbias = Σ dy are sums of n terms: (16 + 4n)·u·n·max|dy| times max|x̂| (conditioned
/// the same way) and 1.</item>
/// <para>For double, u = 1.1e-16 makes every bound near machine precision. The counter and which tensors
/// exist (null or not) must match exactly.</para>
/// </remarks>
public static class OracleTolerance
{
    public static double UnitRoundoff(bool isDouble) => isDouble ? Math.Pow(2, -53) : Math.Pow(2, -24);

    /// <summary>Bound on |y_ours - y_torch| for an element of channel c.</summary>
    public static double Output(double u, long n, double maxAbsX, double mean, double invStd, double weight, double bias) =>
        u * (16 + 2 * n) * ((maxAbsX + Math.Abs(mean)) * invStd * Math.Abs(weight) + Math.Abs(bias) + 1);

    /// <summary>Bound on the running mean's difference after a forward.</summary>
    public static double RunningMean(double u, long n, double maxAbsX, double runningMean) =>
        u * (8 + 2 * n) * (maxAbsX + Math.Abs(runningMean) + 1);

    /// <summary>Bound on |dx_ours - dx_torch| for an element of a channel.</summary>
    public static double InputGradient(double u, long n, double invStd, double weight, double maxAbsDy, double maxAbsXhat, double conditioning) =>
        u * (16 + 4 * n) * invStd * weight * maxAbsDy * (1 + maxAbsXhat * maxAbsXhat) * conditioning;

    /// <summary>Bound on a parameter gradient's difference: a sum of n terms dy·factor.</summary>
    public static double ParameterGradient(double u, long n, double maxAbsDy, double factor) =>
        u * (16 + 4 * n) * n * maxAbsDy * (factor + 1);

    /// <summary>Bound on the running variance's difference after a forward.</summary>
    public static double RunningVar(double u, long n, double maxAbsX, double unbiasedVar, double runningVar)
    {
        double meanError = u * (4 + 2 * n) * maxAbsX;
        return u * (8 + 4 * n) * (Math.Abs(runningVar) + unbiasedVar + 1) + 2 * meanError * meanError;
    }
}
