namespace NormSharp.Distributed.MpiHelper;

/// <summary>Checks for the scenarios: a failed one throws, which fails the rank and so the MPI job.</summary>
internal static class Expect
{
    public static void True(bool condition, string what)
    {
        if (!condition) throw new InvalidOperationException($"{Scenarios.Label()}: expected {what}");
    }

    public static void Equal(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what)
    {
        True(expected.Length == actual.Length, $"{what}: {expected.Length} values, got {actual.Length}");
        for (int i = 0; i < expected.Length; i++)
        {
            // Bit-exact: every expected value is a small sum of exactly representable numbers.
            True(expected[i].Equals(actual[i]), $"{what}: [{i}] = {expected[i]}, got {actual[i]}");
        }
    }

    public static TException Throws<TException>(Action action, string what)
        where TException : Exception
    {
        try
        {
            action();
        }
        catch (TException error)
        {
            return error;
        }

        throw new InvalidOperationException($"{Scenarios.Label()}: expected {typeof(TException).Name} from {what}, got none");
    }
}
