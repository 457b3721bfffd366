namespace NormSharp.Cli.Plotting.SpiralNetwork;

/// <summary>Stochastic gradient descent with momentum, PyTorch's convention: v = μ·v + g; p -= lr·v.</summary>
internal static class Sgd
{
    public static void Step(Span<float> parameter, ReadOnlySpan<float> gradient, Span<float> velocity, float learningRate, float momentum)
    {
        for (int i = 0; i < parameter.Length; i++)
        {
            velocity[i] = momentum * velocity[i] + gradient[i];
            parameter[i] -= learningRate * velocity[i];
        }
    }
}
