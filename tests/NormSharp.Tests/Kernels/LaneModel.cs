namespace NormSharp.Tests.Kernels;

/// <summary>
/// The kernels' summation and rounding order written as plain scalar loops, no vectors. Every vectorized path must give
/// exactly these bits, on every instruction set.
/// </summary>
public static class LaneModel
{
    public const int ChunkLanes = 32, BackwardLanes = 16, ChunkLength = 2048;

    /// <summary>Rows per chunk of the rows layout: about 2048 values, at least 8 rows.</summary>
    public static int RowsPerChunk(int channels) => Math.Max(8, ChunkLength / channels);

    /// <summary>Moments of a group: Σx, the mean as High + Low, M2 = Σ (x - mean)².</summary>
    public readonly record struct GroupMoments(double Sum, double High, double Low, double M2);

    /// <summary>
    /// The chunks of <paramref name="runs"/> runs of <paramref name="length"/> values from x[offset], stride apart: a run longer
    /// than 2048 values cut into slices of 2048 (the last shorter), shorter runs grouped 2048 / length at a time.
    /// </summary>
    public static IEnumerable<(int Offset, int Runs, int Length)> Chunks(int offset, int runs, int stride, int length)
    {
        if (length > ChunkLength)
        {
            for (int r = 0; r < runs; r++)
                for (int start = 0; start < length; start += ChunkLength)
                    yield return (offset + r * stride + start, 1, Math.Min(ChunkLength, length - start));
            yield break;
        }

        int perChunk = ChunkLength / length;
        for (int first = 0; first < runs; first += perChunk) yield return (offset + first * stride, Math.Min(perChunk, runs - first), length);
    }

    /// <summary>
    /// Statistics of runs: per chunk, element i of a run to lane i mod 32, the 32 lanes folded by halves; m = Σx · (1/n), then
    /// Σ (x - m) and Σ (x - m)² (one fused multiply-add) the same way; chunks merged in order.
    /// </summary>
    public static GroupMoments RunMoments(double[] x, int offset, int runs, int stride, int length)
    {
        GroupMoments total = default;
        double count = 0;
        foreach ((int chunkOffset, int chunkRuns, int chunkLength) in Chunks(offset, runs, stride, length))
        {
            double n = (double)chunkRuns * chunkLength;
            GroupMoments chunk = ChunkMoments(x, chunkOffset, chunkRuns, stride, chunkLength);
            total = count == 0 ? chunk : Merge(total, count, chunk, n);
            count += n;
        }

        return total;
    }

    private static GroupMoments ChunkMoments(double[] x, int offset, int runs, int stride, int length)
    {
        double n = (double)runs * length;
        var values = new double[ChunkLanes];
        for (int r = 0; r < runs; r++)
            for (int i = 0; i < length; i++) values[i % ChunkLanes] += x[offset + r * stride + i];
        double inverse = 1.0 / n, sum = Fold(values), m = sum * inverse;
        var deviations = new double[ChunkLanes];
        var squares = new double[ChunkLanes];
        for (int r = 0; r < runs; r++)
            for (int i = 0; i < length; i++)
            {
                double d = x[offset + r * stride + i] - m;
                deviations[i % ChunkLanes] += d;
                squares[i % ChunkLanes] = Math.FusedMultiplyAdd(d, d, squares[i % ChunkLanes]);
            }
        double s1 = Fold(deviations), s2 = Fold(squares), low = s1 * inverse;
        return new(sum, m, low, s2 - s1 * low);
    }

    private static double Fold(double[] lanes)
    {
        for (int width = lanes.Length / 2; width >= 1; width /= 2)
            for (int i = 0; i < width; i++) lanes[i] += lanes[i + width];
        return lanes[0];
    }

    /// <summary>Rows layout: channel c's statistics over <paramref name="rows"/> rows of <paramref name="channels"/>, in chunks of
    /// <see cref="RowsPerChunk"/> rows, each channel adding its rows in order.</summary>
    public static GroupMoments RowMoments(double[] x, int rows, int channels, int c)
    {
        GroupMoments total = default;
        for (int first = 0; first < rows; first += RowsPerChunk(channels))
        {
            int n = Math.Min(RowsPerChunk(channels), rows - first);
            double sum = 0;
            for (int r = first; r < first + n; r++) sum += x[r * channels + c];
            double inverse = 1.0 / n, m = sum * inverse, s1 = 0, s2 = 0;
            for (int r = first; r < first + n; r++)
            {
                double d = x[r * channels + c] - m;
                s1 += d;
                s2 = Math.FusedMultiplyAdd(d, d, s2);
            }
            double low = s1 * inverse;
            var chunk = new GroupMoments(sum, m, low, s2 - s1 * low);
            total = first == 0 ? chunk : Merge(total, first, chunk, n);
        }
        return total;
    }

    /// <summary>Chan et al.'s merge with the mean kept as High + Low (TwoSum).</summary>
    public static GroupMoments Merge(GroupMoments a, double na, GroupMoments b, double nb)
    {
        double delta = (b.High - a.High) + (b.Low - a.Low);
        double step = delta * (nb / (na + nb));
        double rest = a.Low + step, high = a.High + rest, restRounded = high - a.High;
        double low = (a.High - (high - restRounded)) + (rest - restRounded);
        return new(a.Sum + b.Sum, high, low, (a.M2 + b.M2) + delta * step * na);
    }

    /// <summary>
    /// Backward sums of runs: per chunk, element i of a run to lane i mod 16, Σ dy and Σ (x - mean)·dy (one fused
    /// multiply-add per product), the 16 lanes folded by halves; the chunks' sums added in order.
    /// </summary>
    public static (double SumDy, double DotP) BackwardSums(double[] x, double[] dy, int offset, int runs, int stride, int length, double mean)
    {
        double sumDy = 0, dotP = 0;
        foreach ((int chunkOffset, int chunkRuns, int chunkLength) in Chunks(offset, runs, stride, length))
        {
            var sums = new double[BackwardLanes];
            var dots = new double[BackwardLanes];
            for (int r = 0; r < chunkRuns; r++)
                for (int i = 0; i < chunkLength; i++)
                {
                    int at = chunkOffset + r * stride + i;
                    sums[i % BackwardLanes] += dy[at];
                    dots[i % BackwardLanes] = Math.FusedMultiplyAdd(x[at] - mean, dy[at], dots[i % BackwardLanes]);
                }
            sumDy += Fold(sums);
            dotP += Fold(dots);
        }

        return (sumDy, dotP);
    }

    /// <summary>Rows layout: channel c's backward sums, its rows in order.</summary>
    public static (double SumDy, double DotP) RowBackwardSums(double[] x, double[] dy, int rows, int channels, int c, double mean)
    {
        double sumDy = 0, dotP = 0;
        for (int r = 0; r < rows; r++)
        {
            sumDy += dy[r * channels + c];
            dotP = Math.FusedMultiplyAdd(x[r * channels + c] - mean, dy[r * channels + c], dotP);
        }
        return (sumDy, dotP);
    }
}
