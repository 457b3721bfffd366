#!/usr/bin/env bash
# Runs the benchmark matrix (short job: about 4-5 minutes on 2 cores) and writes the ratio table.
#   bash benchmarks/run.sh [output.md] [extra BenchmarkDotNet options, e.g. --filter '*Train*']
# Keep the machine otherwise idle while it runs: both libraries are measured in the same process and run.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmarks/ratios.md}"
shift || true
dotnet build -c Release benchmarks/NormSharp.Benchmarks -v quiet -nologo
dotnet benchmarks/NormSharp.Benchmarks/bin/Release/net10.0/NormSharp.Benchmarks.dll --out "$out" --filter '*' "$@"
