namespace TrainWithBatchNorm;

/// <summary>Stochastic gradient descent with momentum, PyTorch's convention: v = μ·v + g; p -= lr·v.</summary>
public static class Sgd
{
    /// <summary>velocity = momentum·velocity + gradient; parameter -= learningRate·velocity.</summary>
    /// <param name="parameter">The values updated in place.</param>
    /// <param name="gradient">Their gradient.</param>
    /// <param name="velocity">The running velocity, updated in place.</param>
    /// <param name="learningRate">Step size.</param>
    /// <param name="momentum">Velocity decay.</param>
    public static void Step(Span<float> parameter, ReadOnlySpan<float> gradient, Span<float> velocity, float learningRate, float momentum)
    {
        for (int i = 0; i < parameter.Length; i++)
        {
            velocity[i] = momentum * velocity[i] + gradient[i];
            parameter[i] -= learningRate * velocity[i];
        }
    }
}
