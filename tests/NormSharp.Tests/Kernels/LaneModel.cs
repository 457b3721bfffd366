namespace NormSharp.Tests.Kernels;

/// <summary>
/// The kernels' summation and rounding order written as plain scalar loops, no vectors. Every vectorized path must give
/// exactly these bits, on every instruction set.
/// </summary>
public static class LaneModel
{
    public const int Lanes = 16;

    public const int ChunkLanes = 32, ChunkLength = 2048;

    /// <summary>Rows per chunk of the rows layout: about 2048 values, at least 8 rows.</summary>
    public static int RowsPerChunk(int channels) => Math.Max(8, ChunkLength / channels);

    /// <summary>Moments of a group: Σx, the mean as High + Low, M2 = Σ (x - mean)².</summary>
    public readonly record struct GroupMoments(double Sum, double High, double Low, double M2);

    /// <summary>
    /// Statistics of <paramref name="runs"/> runs of <paramref name="length"/> values from x[offset], stride apart: chunks of at most
    /// 2048 values (a long run cut, short runs grouped); per chunk, element i of a run to lane i mod 32, the 32 lanes folded by
    /// halves; m = Σx · (1/n), then Σ (x - m) and Σ (x - m)² (one fused multiply-add) the same way; chunks merged in order.
    /// </summary>
    public static GroupMoments RunMoments(double[] x, int offset, int runs, int stride, int length)
    {
        GroupMoments total = default;
        double count = 0;
        void Add(GroupMoments chunk, double n)
        {
            total = count == 0 ? chunk : Merge(total, count, chunk, n);
            count += n;
        }

        if (length > ChunkLength)
        {
            for (int r = 0; r < runs; r++)
                for (int start = 0; start < length; start += ChunkLength)
                {
                    int n = Math.Min(ChunkLength, length - start);
                    Add(Chunk(x, offset + r * stride + start, 1, stride, n), n);
                }
        }
        else
        {
            int perChunk = ChunkLength / length;
            for (int first = 0; first < runs; first += perChunk)
            {
                int chunkRuns = Math.Min(perChunk, runs - first);
                Add(Chunk(x, offset + first * stride, chunkRuns, stride, length), (double)chunkRuns * length);
            }
        }

        return total;
    }

    private static GroupMoments Chunk(double[] x, int offset, int runs, int stride, int length)
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
