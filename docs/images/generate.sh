#!/usr/bin/env bash
# Regenerates the README's pictures with the CLI's plot command (deterministic: fixed seeds, a checked-in checkpoint).
# Usage, from anywhere: bash docs/images/generate.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
images="$root/docs/images"
dotnet build "$root/src/NormSharp.Cli" -c Release --nologo -v quiet
normsharp() { dotnet "$root/src/NormSharp.Cli/bin/Release/net10.0/NormSharp.Cli.dll" "$@"; }
normsharp plot running-stats --momentum 0.1 0.01 None --steps 200 --batch 16 --seed 0 -o "$images/running-stats.png"
normsharp plot train-vs-eval --epochs 30 --seed 7 -o "$images/train-vs-eval.png"
normsharp plot checkpoint "$root/tests/NormSharp.Tests/Cli/Golden/checkpoint.safetensors" -o "$images/checkpoint.png"
