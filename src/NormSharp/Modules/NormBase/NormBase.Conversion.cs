using System.Numerics;
using System.Numerics.Tensors;

namespace NormSharp;

// Element-type conversion, PyTorch's module.double() / module.float(): one implementation for every kind of layer.
public abstract partial class NormBase<T>
{
    /// <summary>
    /// This layer in float64, PyTorch's <c>module.double()</c>: a layer of the same class (<c>BatchNorm2d&lt;float&gt;</c> gives a
    /// <c>BatchNorm2d&lt;double&gt;</c>, a lazy layer a lazy layer) holding the same state in double.
    /// </summary>
    /// <returns>A new layer, or this layer itself when it already computes in double (PyTorch returns the module itself).</returns>
    /// <remarks>
    /// <para>Kept, as PyTorch's <c>_apply</c> keeps them: weight and bias (values, <c>RequiresGrad</c>, and <c>Grad</c> converted
    /// too), running_mean and running_var, the counter (an integer, not converted), <c>NumFeatures</c>, <c>Eps</c>,
    /// <c>Momentum</c>, <c>Affine</c>, <c>TrackRunningStats</c>, the mode, and a lazy layer's state (an uninitialized one stays
    /// uninitialized, and creates double tensors at its first forward; an initialized one keeps its non-lazy name).</para>
    /// <para>.NET's difference: a <c>Tensor&lt;float&gt;</c> cannot become a <c>Tensor&lt;double&gt;</c> in place, so the result is a
    /// new layer with tensors of its own and this one is left as it was (PyTorch changes the module in place and returns it).
    /// Use the result from then on. It has no forward to differentiate yet: <c>Backward</c> needs a forward on it first.
    /// Float to double is exact; double to float rounds to nearest, as PyTorch's cast does.</para>
    /// <para>Every class of the library converts: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d and their lazy forms. A subclass
    /// defined elsewhere converts only if it overrides <see cref="CreateForConversion{TOther}"/>.</para>
    /// <example>
    /// <code>
    /// var bn = new BatchNorm2d(64);
    /// bn.Forward(x);                                               // float32 training
    /// var bn64 = (BatchNorm2d&lt;double&gt;)bn.ToDouble();            // same state, in double: bn64.NumBatchesTracked == 1
    /// </code>
    /// </example>
    /// </remarks>
    /// <exception cref="InvalidOperationException">A call that changes the layer (a training forward, a load) is running
    /// on another thread.</exception>
    /// <exception cref="NotSupportedException">The layer is of a class defined outside NormSharp that does not override
    /// <see cref="CreateForConversion{TOther}"/>.</exception>
    public NormBase<double> ToDouble() => ConvertTo<double>(nameof(ToDouble));

    /// <summary>
    /// This layer in float32, PyTorch's <c>module.float()</c>: a layer of the same class holding the same state in float
    /// (double values rounded to nearest). See <see cref="ToDouble"/> for what is kept.
    /// </summary>
    /// <returns>A new layer, or this layer itself when it already computes in float.</returns>
    /// <exception cref="InvalidOperationException">A call that changes the layer is running on another thread.</exception>
    /// <exception cref="NotSupportedException">The layer's class cannot be converted (see <see cref="ToDouble"/>).</exception>
    public NormBase<float> ToFloat() => ConvertTo<float>(nameof(ToFloat));

    /// <summary>
    /// A new layer of this layer's class in element type <typeparamref name="TOther"/>, built with this layer's constructor
    /// arguments (its tensors are then replaced by converted copies of this layer's). The default knows every class of the
    /// library; a subclass defined elsewhere overrides it to convert, or it throws <see cref="NotSupportedException"/>.
    /// </summary>
    /// <typeparam name="TOther"><see cref="float"/> or <see cref="double"/>.</typeparam>
    protected virtual NormBase<TOther> CreateForConversion<TOther>()
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        // Lazy classes derive from their non-lazy twins, so they come first. Eager layers are built with the tensors they
        // have; the conversion then sets every tensor, flag and counter.
        bool affine = Weight is not null, track = RunningMean is not null;
        return this switch
        {
            LazyBatchNorm1d<T> => new LazyBatchNorm1d<TOther>(Eps, Momentum, pendingAffine, pendingRunningStatistics),
            LazyBatchNorm2d<T> => new LazyBatchNorm2d<TOther>(Eps, Momentum, pendingAffine, pendingRunningStatistics),
            LazyBatchNorm3d<T> => new LazyBatchNorm3d<TOther>(Eps, Momentum, pendingAffine, pendingRunningStatistics),
            LazyInstanceNorm1d<T> => new LazyInstanceNorm1d<TOther>(Eps, Momentum, pendingAffine, pendingRunningStatistics),
            LazyInstanceNorm2d<T> => new LazyInstanceNorm2d<TOther>(Eps, Momentum, pendingAffine, pendingRunningStatistics),
            LazyInstanceNorm3d<T> => new LazyInstanceNorm3d<TOther>(Eps, Momentum, pendingAffine, pendingRunningStatistics),
            BatchNorm1d<T> => new BatchNorm1d<TOther>(NumFeatures, Eps, Momentum, affine, track),
            BatchNorm2d<T> => new BatchNorm2d<TOther>(NumFeatures, Eps, Momentum, affine, track),
            BatchNorm3d<T> => new BatchNorm3d<TOther>(NumFeatures, Eps, Momentum, affine, track),
            InstanceNorm1d<T> => new InstanceNorm1d<TOther>(NumFeatures, Eps, Momentum, affine, track),
            InstanceNorm2d<T> => new InstanceNorm2d<TOther>(NumFeatures, Eps, Momentum, affine, track),
            InstanceNorm3d<T> => new InstanceNorm3d<TOther>(NumFeatures, Eps, Momentum, affine, track),
            _ => throw new NotSupportedException(
                $"{GetType().Name} ({ModuleName}) cannot be converted to {typeof(TOther).Name}: it is defined outside NormSharp and does " +
                "not override CreateForConversion."),
        };
    }

    private NormBase<TOther> ConvertTo<TOther>(string operation)
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        if (this is NormBase<TOther> same) return same;
        EnterCall(exclusive: false, operation);
        try
        {
            NormBase<TOther> twin = CreateForConversion<TOther>();
            // Every converted tensor is made before the twin is touched, as elsewhere: running out of memory changes nothing.
            Parameter<TOther>? weight = Convert<TOther>(Weight), bias = Convert<TOther>(Bias);
            Tensor<TOther>? runningMean = Convert<T, TOther>(RunningMean), runningVar = Convert<T, TOther>(RunningVar);
            twin.NumFeatures = NumFeatures;
            (twin.Weight, twin.Bias, twin.RunningMean, twin.RunningVar) = (weight, bias, runningMean, runningVar);
            twin.NumBatchesTracked = NumBatchesTracked;
            (twin.Eps, twin.Momentum, twin.Affine, twin.TrackRunningStats, twin.Training) = (Eps, Momentum, Affine, TrackRunningStats, Training);
            (twin.pendingAffine, twin.pendingRunningStatistics, twin.InLazyForm) = (pendingAffine, pendingRunningStatistics, InLazyForm);
            CopyPoliciesTo(twin);
            return twin;
        }
        finally
        {
            ExitCall(exclusive: false);
        }
    }

    private static Parameter<TOther>? Convert<TOther>(Parameter<T>? parameter)
        where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        if (parameter is null) return null;
        return new Parameter<TOther>(Convert<T, TOther>(parameter.Data)!)
        {
            Grad = Convert<T, TOther>(parameter.Grad),
            RequiresGrad = parameter.RequiresGrad,
        };
    }

    /// <summary>A new row-major tensor of the same lengths holding each element converted (read through any strides).</summary>
    private static Tensor<TTo>? Convert<TFrom, TTo>(Tensor<TFrom>? tensor)
        where TFrom : unmanaged, IFloatingPointIeee754<TFrom>
        where TTo : unmanaged, IFloatingPointIeee754<TTo>
    {
        if (tensor is null) return null;
        var values = new TFrom[tensor.FlattenedLength];
        tensor.FlattenTo(values);
        var converted = new TTo[values.Length];
        for (int i = 0; i < values.Length; i++) converted[i] = TTo.CreateTruncating(values[i]);
        return Tensor.Create(converted, tensor.Lengths);
    }
}
