using System.Numerics.Tensors;

namespace NormSharp;

// The per-channel arguments (running_mean, running_var, weight, bias) with any strides, as PyTorch accepts them: the kernels
// read dense memory, so a strided view is read through a row-major copy and, when the call updates it, written back
// element by element through the view once the kernels are done.
public static partial class Functional
{
    /// <summary>A per-channel argument as the kernels read it: the caller's tensor when it is row-major (no copy), else a
    /// row-major copy of its elements in logical order; null stays null.</summary>
    internal static Tensor<T>? Dense<T>(Tensor<T>? tensor) => tensor is null ? null : TensorStorage.RowMajor(tensor);

    /// <summary>Writes what the kernels left in <paramref name="dense"/> back into the caller's <paramref name="view"/>,
    /// element by element through its strides, when <paramref name="dense"/> is a copy (nothing to do when it is the view
    /// itself). Called only after every check of the call passed, so a call that throws leaves the view untouched.</summary>
    internal static void WriteBack<T>(Tensor<T>? dense, Tensor<T>? view)
    {
        if (dense is null || view is null || ReferenceEquals(dense, view)) return;
        TensorStorage.CopyInto(dense, view);
    }

    /// <summary>Refuses a tensor the call writes when two of its elements lie at one memory location (a broadcast view with
    /// a stride of 0): the written values would depend on the order of the writes. PyTorch writes such a view anyway, in an
    /// order it does not define; NormSharp refuses it, changing nothing.</summary>
    /// <exception cref="ArgumentException">The tensor has repeated elements.</exception>
    internal static void EnsureDistinctElements<T>(Tensor<T>? tensor, string name)
    {
        if (tensor is not null && TensorStorage.HasRepeatedElements(tensor))
            throw new ArgumentException(
                $"{name} has elements that share one memory location (a broadcast view): a tensor this call writes needs distinct " +
                "elements; pass a copy.");
    }
}
