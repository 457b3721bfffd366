using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using System.Text;

namespace NormSharp;

/// <summary>
/// A tensor's values as PyTorch prints them (<c>print(t)</c>): <c>tensor([1.0000, 2.5000])</c>, nested brackets per
/// dimension, one width for every element, four decimals (or scientific notation when magnitudes span more than 1000x,
/// exceed 1e8 or go below 1e-4, or whole numbers as <c>1.</c>), lines kept to 80 characters, and large tensors
/// (over 1000 elements) summarized with <c>...</c> and their first and last three items per dimension.
/// </summary>
/// <remarks>
/// <c>System.Numerics.Tensors</c>' own <c>ToString()</c> prints only the type and shape; use this to see values:
/// <example>
/// <code>
/// Console.WriteLine(bn.RunningMean!.ToPyTorchString());   // tensor([0.1000, 0.2500, 0.3000])
/// </code>
/// </example>
/// </remarks>
public static class TensorText
{
    private const int Threshold = 1000, EdgeItems = 3, LineWidth = 80, Decimals = 4;

    /// <summary>The values of <paramref name="tensor"/> as PyTorch prints them (float32 without a dtype suffix, float64 with
    /// <c>dtype=torch.float64</c>, as PyTorch's default dtype is float32).</summary>
    /// <typeparam name="T">An IEEE floating-point type (float, double, Half) or an integer type.</typeparam>
    /// <param name="tensor">Any tensor, any strides.</param>
    public static string ToPyTorchString<T>(this Tensor<T> tensor) where T : INumberBase<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        string suffix = typeof(T) == typeof(double) ? ", dtype=torch.float64"
            : typeof(T) == typeof(Half) ? ", dtype=torch.float16"
            : typeof(T) == typeof(long) ? "" : typeof(T) == typeof(float) ? "" : $", dtype={typeof(T).Name}";
        return Format(tensor.Lengths, Values(tensor), suffix, integral: typeof(T) == typeof(long) || typeof(T) == typeof(int));
    }

    /// <summary>The same text for values given as doubles in row-major order with their shape (used for state-dict entries).</summary>
    internal static string Format(ReadOnlySpan<nint> shape, double[] values, string suffix, bool integral)
    {
        string prefix = "tensor(";
        if (shape.Length == 0) return $"{prefix}{new ElementFormat(values, integral).Write(values.Length > 0 ? values[0] : 0).Trim()}{suffix})";
        if (values.Length == 0)
            return shape.Length == 1 ? $"{prefix}[]{suffix})" : $"{prefix}[], size=({string.Join(", ", shape.ToArray())}){suffix})";

        bool summarize = values.Length > Threshold;
        nint[] lengths = shape.ToArray();
        nint[] strides = new nint[lengths.Length];
        nint stride = 1;
        for (int d = lengths.Length - 1; d >= 0; d--) { strides[d] = stride; stride *= lengths[d]; }
        var shown = new List<double>();
        Collect(values, lengths, strides, 0, 0, summarize, shown);
        var format = new ElementFormat(shown.ToArray(), integral);
        var text = new StringBuilder(prefix);
        Write(text, values, lengths, strides, 0, 0, summarize, format, prefix.Length);
        return text.Append(suffix).Append(')').ToString();
    }

    private static void Collect(double[] values, nint[] lengths, nint[] strides, int dim, long offset, bool summarize, List<double> shown)
    {
        foreach (long i in Indices(lengths[dim], summarize))
        {
            if (i < 0) continue;
            long at = offset + i * strides[dim];
            if (dim == lengths.Length - 1) shown.Add(values[at]);
            else Collect(values, lengths, strides, dim + 1, at, summarize, shown);
        }
    }

    /// <summary>The indices shown along a dimension; -1 marks the "..." of a summarized one.</summary>
    private static IEnumerable<long> Indices(long length, bool summarize)
    {
        if (!summarize || length <= 2 * EdgeItems)
        {
            for (long i = 0; i < length; i++) yield return i;
            yield break;
        }

        for (long i = 0; i < EdgeItems; i++) yield return i;
        yield return -1;
        for (long i = length - EdgeItems; i < length; i++) yield return i;
    }

    private static void Write(StringBuilder text, double[] values, nint[] lengths, nint[] strides, int dim, long offset, bool summarize,
                              ElementFormat format, int indent)
    {
        text.Append('[');
        if (dim == lengths.Length - 1)
        {
            // PyTorch's _vector_str: as many elements per line as fit in 80 columns after the indent, " ..." as one element.
            var items = Indices(lengths[dim], summarize).Select(i => i < 0 ? " ..." : format.Write(values[offset + i * strides[dim]])).ToList();
            int perLine = Math.Max(1, (LineWidth - indent) / (format.Width + 2));
            for (int start = 0; start < items.Count; start += perLine)
            {
                if (start > 0) text.Append(",\n").Append(' ', indent + 1);
                text.AppendJoin(", ", items.Skip(start).Take(perLine));
            }
        }
        else
        {
            int written = 0;
            foreach (long i in Indices(lengths[dim], summarize))
            {
                if (written++ > 0) text.Append(',').Append('\n', lengths.Length - 1 - dim).Append(' ', indent + 1);
                if (i < 0) text.Append("...");
                else Write(text, values, lengths, strides, dim + 1, offset + i * strides[dim], summarize, format, indent + 1);
            }
        }

        text.Append(']');
    }

    private static double[] Values<T>(Tensor<T> tensor) where T : INumberBase<T>
    {
        var flat = new T[tensor.FlattenedLength];
        tensor.FlattenTo(flat);
        return flat.Select(double.CreateTruncating).ToArray();
    }

    /// <summary>PyTorch's choice for a whole tensor: integer mode (<c>1.</c>), fixed (<c>1.2500</c>) or scientific
    /// (<c>1.2500e+08</c>), and one width.</summary>
    private sealed class ElementFormat
    {
        private readonly bool integerMode, scientific, integral;
        private readonly int width;

        public ElementFormat(double[] shown, bool integral)
        {
            this.integral = integral;
            double[] finite = shown.Where(double.IsFinite).ToArray();
            integerMode = integral || finite.All(v => v == Math.Round(v));
            double[] nonzero = finite.Select(Math.Abs).Where(v => v != 0).ToArray();
            if (!integral && nonzero.Length > 0)
            {
                // PyTorch's _Formatter: whole numbers switch to scientific notation on a 1000x span or past 1e8, others
                // also below 1e-4.
                double max = nonzero.Max(), min = nonzero.Min();
                scientific = max / min > 1000 || max > 1e8 || (!integerMode && min < 1e-4);
            }

            width = shown.Length == 0 ? 1 : shown.Max(v => Raw(v).Length);
        }

        public int Width => width;

        public string Write(double value) => Raw(value).PadLeft(width);

        private string Raw(double value)
        {
            if (double.IsNaN(value)) return "nan";
            if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
            if (integral) return ((long)value).ToString(CultureInfo.InvariantCulture);
            if (scientific) return value.ToString($"0.{new string('0', Decimals)}e+00", CultureInfo.InvariantCulture);
            if (integerMode) return value.ToString("0", CultureInfo.InvariantCulture) + ".";
            return value.ToString($"0.{new string('0', Decimals)}", CultureInfo.InvariantCulture);
        }
    }
}
