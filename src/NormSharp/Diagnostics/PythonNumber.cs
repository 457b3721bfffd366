using System.Globalization;
using System.Text;

namespace NormSharp;

/// <summary>Numbers written as Python writes them, so that reprs read like PyTorch's.</summary>
internal static class PythonNumber
{
    /// <summary>Python's <c>repr(float)</c>: the shortest digits that round-trip, positional when the decimal exponent is
    /// in [-4, 16), otherwise scientific with at least two exponent digits (<c>1e-05</c>, <c>1e+16</c>); <c>nan</c>,
    /// <c>inf</c>, <c>-0.0</c>.</summary>
    public static string Repr(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";
        (string digits, int exponent) = ShortestDigits(Math.Abs(value));
        var text = new StringBuilder(value < 0 ? "-" : "");
        if (exponent is >= -4 and < 16)
        {
            if (exponent < 0) text.Append("0.").Append('0', -exponent - 1).Append(digits);
            else if (digits.Length <= exponent + 1) text.Append(digits).Append('0', exponent + 1 - digits.Length).Append(".0");
            else text.Append(digits, 0, exponent + 1).Append('.').Append(digits, exponent + 1, digits.Length - exponent - 1);
            return text.ToString();
        }

        text.Append(digits[0]);
        if (digits.Length > 1) text.Append('.').Append(digits, 1, digits.Length - 1);
        return text.Append('e').Append(exponent < 0 ? '-' : '+').Append(Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture)).ToString();
    }

    /// <summary>Python's <c>repr(bool)</c>.</summary>
    public static string Repr(bool value) => value ? "True" : "False";

    /// <summary>The shortest round-trip significant digits of a positive finite value, and the decimal exponent of the
    /// first one (value = d.ddd × 10^exponent).</summary>
    private static (string Digits, int Exponent) ShortestDigits(double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        int e = text.IndexOf('E', StringComparison.Ordinal);
        int exponent = e < 0 ? 0 : int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        string mantissa = e < 0 ? text : text[..e];
        int point = mantissa.IndexOf('.', StringComparison.Ordinal);
        string integerPart = point < 0 ? mantissa : mantissa[..point], fraction = point < 0 ? "" : mantissa[(point + 1)..];
        string all = integerPart + fraction;
        int leadingZeros = all.Length - all.TrimStart('0').Length;
        string digits = all.Trim('0');
        return (digits.Length == 0 ? "0" : digits, exponent + integerPart.Length - 1 - leadingZeros);
    }
}
