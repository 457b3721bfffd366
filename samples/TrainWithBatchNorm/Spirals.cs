namespace TrainWithBatchNorm;

/// <summary>Three interleaved spirals in the plane: a classic data set that a linear model cannot separate.</summary>
public static class Spirals
{
    /// <summary>The number of spirals, one class each.</summary>
    public const int Classes = 3;

    /// <summary><paramref name="perClass"/> noisy points per arm: (x, y) rows and their class labels.</summary>
    public static (float[] Points, int[] Labels) Generate(int perClass, double noise, int seed)
    {
        var random = new Random(seed);
        var points = new float[perClass * Classes * 2];
        var labels = new int[perClass * Classes];
        for (int c = 0; c < Classes; c++)
            for (int i = 0; i < perClass; i++)
            {
                int k = c * perClass + i;
                double radius = (double)i / perClass;
                double angle = c * 2 * Math.PI / Classes + radius * 4.0 + noise * Gaussian(random);
                // Centred away from the origin on purpose: BatchNorm after the first layer copes with it.
                points[2 * k] = (float)(3 + 5 * radius * Math.Sin(angle));
                points[2 * k + 1] = (float)(-2 + 5 * radius * Math.Cos(angle));
                labels[k] = c;
            }

        return (points, labels);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2.0 * Math.PI * random.NextDouble());
}
