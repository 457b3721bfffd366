#!/usr/bin/env bash
# The ratio table against libtorch (same process, same data), 1 and 2 threads, with the CPU model, .NET and libtorch versions
# and same-run copy references (plain and non-temporal, on the kernels' worker pool).
#   bash benchmarks/run.sh [output.md] [--rounds N] [--sample-ms MS] [--shapes 56x56,NHWC] [--threads 1,2]
#       quick mode (default): a stopwatch harness, all operations of a shape interleaved in each round, medians and ranges
#       of per-round ratios; about 2 minutes on 2 cores. Then the allocating overloads once more with the GC's large-object
#       threshold raised to 64 MiB (System.GC.LOHThreshold; see docs/benchmarks/ratios.md).
#   bash benchmarks/run.sh --bdn [output.md] [BenchmarkDotNet options]: the BenchmarkDotNet matrix (longer).
# Keep the machine otherwise idle while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release benchmarks/NormSharp.Benchmarks -v quiet -nologo
app=benchmarks/NormSharp.Benchmarks/bin/Release/net10.0/NormSharp.Benchmarks.dll
if [[ "${1:-}" == "--bdn" ]]; then
  shift
  out="${1:-docs/benchmarks/ratios-bdn.md}"
  shift || true
  dotnet "$app" --out "$out" --filter '*' "$@"
  exit 0
fi
out="${1:-docs/benchmarks/ratios.md}"
shift || true
dotnet "$app" --quick --out "$out" "$@"
{
  echo
  echo "Allocating overloads with the GC's large-object threshold raised from 85,000 bytes to 64 MiB (DOTNET_GCLOHThreshold, or"
  echo "System.GC.LOHThreshold in runtimeconfig.json), so that outputs are allocated in generation 0 rather than on the large-object heap:"
  echo
  tmp="$(mktemp)"
  DOTNET_GCLOHThreshold=0x4000000 dotnet "$app" --quick --ops ns-train-alloc,lt-train --batchnorm-only --out "$tmp" "$@" > /dev/null
  # The first table of that run (BatchNorm shapes): shape, threads, and its allocating column.
  awk -F'|' '/^\| shape/ {t=1; print "| shape | threads | train fwd (allocating, LOHThreshold 64 MiB) |"; next}
             t && /^\|---/ {print "|---|---|---|"; next}
             t && /^\|/ {print "|" $2 "|" $3 "|" $5 "|"; next}
             t && !/^\|/ {exit}' "$tmp"
  rm -f "$tmp"
} >> "$out"
echo "written to $out"
