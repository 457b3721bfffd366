using System.Numerics.Tensors;

namespace NormSharp;

public static partial class Functional
{
    /// <summary>One argument of a call, for the shared-memory check: the tensor (or null), its name in messages, and
    /// whether the call writes into it.</summary>
    internal readonly record struct Argument<T>(Tensor<T>? Tensor, string Name, bool Written);

    /// <summary>
    /// Refuses a call in which a tensor it writes shares memory with any other tensor argument, read or written (a
    /// partial overlap would make the result depend on the order the kernels touch memory in). The one exception is
    /// <paramref name="inPlace"/>: the input and the destination may be exactly the same elements when the caller allows
    /// an in-place transform.
    /// </summary>
    /// <exception cref="ArgumentException">Two arguments share memory; the message names both.</exception>
    internal static void EnsureNoSharedMemory<T>(ReadOnlySpan<Argument<T>> arguments, (int Input, int Destination)? inPlace = null)
    {
        // Each tensor's extent once, not once per pair it is in.
        Span<long> extents = stackalloc long[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
            extents[i] = arguments[i].Tensor is Tensor<T> tensor ? TensorStorage.Extent(tensor) : 0;
        for (int i = 0; i < arguments.Length; i++)
        {
            if (arguments[i].Tensor is not Tensor<T> a) continue;
            for (int j = i + 1; j < arguments.Length; j++)
            {
                if (arguments[j].Tensor is not Tensor<T> b || !(arguments[i].Written || arguments[j].Written)) continue;
                if (!TensorStorage.Overlap(a, b, extents[i], extents[j])) continue;
                bool inPlacePair = inPlace is (int input, int destination) && ((i, j) == (input, destination) || (j, i) == (input, destination));
                if (inPlacePair && TensorStorage.SameElements(a, b)) continue;
                string written = arguments[i].Written ? arguments[i].Name : arguments[j].Name;
                string other = arguments[i].Written ? arguments[j].Name : arguments[i].Name;
                throw new ArgumentException(inPlacePair
                    ? $"{written} overlaps {other} without being the same elements: pass the {other} itself for an in-place result, or a separate tensor."
                    : $"{written} shares memory with {other}: a tensor this call writes must not overlap another argument.");
            }
        }
    }
}
