namespace NormSharp;

/// <summary>
/// The keys a non-strict <c>LoadStateDict</c> could not match, PyTorch's <c>_IncompatibleKeys</c>.
/// </summary>
/// <param name="MissingKeys">Keys the module has and the state dict lacked (left unchanged).</param>
/// <param name="UnexpectedKeys">Keys the state dict had and the module does not (ignored).</param>
public sealed record LoadStateDictResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);
