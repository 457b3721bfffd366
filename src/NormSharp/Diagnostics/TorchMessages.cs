using System.Globalization;

namespace NormSharp.Diagnostics;

/// <summary>
/// PyTorch's error texts, word for word, in one place. Spec tests assert against these
/// constants and the oracle tests compare them with what PyTorch prints.
/// </summary>
internal static class TorchMessages
{
    /// <summary>BatchNorm1d's rank check (<c>_check_input_dim</c>).</summary>
    public static string ExpectedRanks(IReadOnlyList<int> ranks, int actual) => ranks.Count switch
    {
        1 => $"expected {ranks[0]}D input (got {actual}D input)",
        _ => $"expected {string.Join(" or ", ranks.Select(r => $"{r}D"))} input (got {actual}D input)",
    };

    /// <summary>Python's <c>_verify_batch_size</c>; the size is printed in brackets instead of <c>torch.Size(..)</c>.</summary>
    public static string MoreThanOneValuePerChannel(ReadOnlySpan<nint> shape) =>
        $"Expected more than 1 value per channel when training, got input size {FormatShape(shape)}";

    /// <summary>ATen's <c>check_dims_match_num_input_features</c>: k is the input's size at dim 1.</summary>
    public static string ShouldContainElements(string tensorName, nint inputChannels, nint actual) =>
        $"{tensorName} should contain {inputChannels} elements not {actual}";

    /// <summary>ATen, <c>batch_norm</c> in evaluation mode without the buffer.</summary>
    public static string MustBeDefinedInEvaluationMode(string tensorName) =>
        $"{tensorName} must be defined in evaluation mode";

    /// <summary>Python <c>F.batch_norm</c> (PyTorch 2.10 and later), training.</summary>
    public static string EpsMustBePositive(double eps) =>
        $"batch_norm eps must be positive during training, but got {FormatFloat(eps)}";

    /// <summary>Python <c>F.batch_norm</c> (PyTorch 2.10 and later), evaluation.</summary>
    public static string EpsMustBeNonNegative(double eps) =>
        $"batch_norm eps must be non-negative, but got {FormatFloat(eps)}";

    /// <summary>The functional op needs a channel dimension.</summary>
    public static string FunctionalRank(int actual) =>
        $"batch_norm expects an input with at least 2 dimensions (N, C, ...) (got {actual}D input)";

    /// <summary>libtorch's <c>tensor.size(dim)</c> for a dim the tensor does not have (an IndexError in Python):
    /// <c>batch_norm_update_stats</c> reads the input's size at dim 1.</summary>
    public static string DimensionOutOfRange(int dim, int rank) => rank == 0
        ? $"Dimension specified as {dim} but tensor has no dimensions"
        : $"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})";

    /// <summary>ATen's <c>batch_norm_cpu_update_stats_template</c> on an empty input.</summary>
    public static string InputMustHaveElements(ReadOnlySpan<nint> shape) =>
        $"input tensor must have at least one element, but got input_sizes = {FormatShape(shape)}";

    /// <summary>Python's <c>1.0 / float(self.num_batches_tracked)</c> in <c>_BatchNorm.forward</c> (momentum None) when the
    /// counter, after its increment, is 0 (a counter of -1 assigned or loaded): Python's ZeroDivisionError.</summary>
    public const string FloatDivisionByZero = "float division by zero";

    /// <summary>PyTorch's <c>UninitializedTensorMixin.shape</c>: the shape of a lazy module's parameter or buffer before its
    /// first forward (raised by <c>load_state_dict</c> when such an entry is loaded into an initialized tensor).</summary>
    public const string UninitializedShape =
        "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in `load_state_dict` when " +
        "trying to load an uninitialized parameter into an initialized one. Call `forward` to initialize the parameters before " +
        "accessing their attributes.";

    /// <summary>PyTorch's <c>UninitializedTensorMixin.__torch_function__</c>: any other use of an uninitialized parameter or
    /// buffer (<paramref name="operation"/>: what was attempted; <paramref name="className"/>: <c>UninitializedParameter</c> or
    /// <c>UninitializedBuffer</c>).</summary>
    public static string UninitializedUse(string operation, string className) =>
        $"Attempted to use an uninitialized parameter in {operation}. This error happens when you are using a `LazyModule` or " +
        $"explicitly manipulating `torch.nn.parameter.{className}` objects. When using LazyModules Call `forward` with a dummy " +
        "batch to initialize the parameters before calling torch functions";

    /// <summary>Python's <c>_verify_spatial_size</c> (InstanceNorm with input statistics).</summary>
    public static string MoreThanOneSpatialElement(ReadOnlySpan<nint> shape) =>
        $"Expected more than 1 spatial element when training, got input size {FormatShape(shape)}";

    /// <summary>ATen's <c>instance_norm</c> in evaluation without running statistics.</summary>
    public const string InstanceNormNeedsRunningStatistics =
        "Expected running_mean and running_var to be defined when use_input_stats is false";

    /// <summary>libtorch's <c>tensor[0]</c> on a tensor whose dim 0 is empty: ATen's empty-input path of <c>batch_norm</c> indexes
    /// <c>weight[0]</c> and <c>bias[0]</c> (for <c>instance_norm</c>, of the parameters repeated N times), an internal
    /// indexing error that NormSharp keeps.</summary>
    public static string SelectIndexOutOfRange(ReadOnlySpan<nint> shape) =>
        $"select(): index 0 out of range for tensor of size {FormatShape(shape)} at dimension 0";

    /// <summary>libtorch's <c>view</c> of an InstanceNorm running buffer repeated N times as (N, C), when its length is not C.</summary>
    public static string ViewShapeInvalid(nint batch, nint channels, long size) =>
        $"shape '[{batch}, {channels}]' is invalid for input of size {size}";

    /// <summary>libtorch's broadcasting copy of an InstanceNorm running buffer (length a) from C = b values.</summary>
    public static string SizesMustMatch(long a, nint b) =>
        $"The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton dimension 0";

    /// <summary><c>_InstanceNorm.forward</c>, channel mismatch with affine (PyTorch 2.x, ValueError).</summary>
    public static string InstanceNormChannelMismatch(int featureDim, int numFeatures, nint actual) =>
        $"expected input's size at dim={featureDim} to match num_features ({numFeatures}), but got: {actual}.";

    /// <summary><c>_InstanceNorm.forward</c>, channel mismatch without affine (PyTorch 2.x, UserWarning).</summary>
    public static string InstanceNormChannelMismatchWarning(int featureDim) =>
        $"input's size at dim={featureDim} does not match num_features. You can silence this warning by not passing in " +
        "num_features, which is not used because affine=False";

    /// <summary>The functional op needs a channel dimension.</summary>
    public static string InstanceNormFunctionalRank(int actual) =>
        $"instance_norm expects an input with at least 2 dimensions (N, C, ...) (got {actual}D input)";

    /// <summary>Head of PyTorch's <c>load_state_dict</c> error.</summary>
    public static string LoadStateDictErrors(string moduleName, IEnumerable<string> errors) =>
        $"Error(s) in loading state_dict for {moduleName}:\n\t{string.Join("\n\t", errors)}";

    /// <summary>PyTorch's missing-keys line (note the trailing space, as PyTorch prints it).</summary>
    public static string MissingKeys(IEnumerable<string> keys) =>
        $"Missing key(s) in state_dict: {string.Join(", ", keys.Select(k => $"\"{k}\""))}. ";

    /// <summary>PyTorch's unexpected-keys line.</summary>
    public static string UnexpectedKeys(IEnumerable<string> keys) =>
        $"Unexpected key(s) in state_dict: {string.Join(", ", keys.Select(k => $"\"{k}\""))}. ";

    /// <summary>PyTorch's shape-mismatch line.</summary>
    public static string SizeMismatch(string key, ReadOnlySpan<nint> checkpointShape, ReadOnlySpan<nint> modelShape) =>
        $"size mismatch for {key}: copying a param with shape {FormatShape(checkpointShape)} from checkpoint, " +
        $"the shape in current model is {FormatShape(modelShape)}.";

    /// <summary>Sizes as PyTorch lists them inside <c>torch.Size(..)</c>: <c>[1, 100]</c>.</summary>
    public static string FormatShape(ReadOnlySpan<nint> shape)
    {
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++) parts[i] = shape[i].ToString(CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + "]";
    }

    /// <summary>A double as Python's <c>repr</c> writes it (<c>0.0</c>, <c>-1.0</c>, <c>1e-05</c>).</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        if (value == Math.Floor(value) && Math.Abs(value) < 1e16) return value.ToString("0.0", CultureInfo.InvariantCulture);
        return value.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
    }
}
