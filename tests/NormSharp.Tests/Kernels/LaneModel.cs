namespace NormSharp.Tests.Kernels;

/// <summary>
/// The kernels' summation and rounding order written as plain scalar loops: lane = i mod 16, lanes summed in
/// order, no vectors. Every vectorized path must give exactly these bits, on every instruction set.
/// </summary>
public static class LaneModel
{
    public const int Lanes = 16;

    public static (double[] Sum, double[] Squares) Moments(double[] x, double shift)
    {
        var sum = new double[Lanes];
        var squares = new double[Lanes];
        for (int i = 0; i < x.Length; i++)
        {
            double d = x[i] - shift;
            sum[i % Lanes] += d;
            squares[i % Lanes] += d * d;
        }
        return (sum, squares);
    }

    public static (double[] Sum, double[] Dot) BackwardSums(double[] x, double[] dy, double mean)
    {
        var sum = new double[Lanes];
        var dot = new double[Lanes];
        for (int i = 0; i < x.Length; i++)
        {
            sum[i % Lanes] += dy[i];
            dot[i % Lanes] += (x[i] - mean) * dy[i];
        }
        return (sum, dot);
    }
}
