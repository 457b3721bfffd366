#!/usr/bin/env bash
# SyncBatchNorm's overhead over a local BatchNorm, two processes on this machine (Open MPI), written as a Markdown table.
#   bash benchmarks/run-distributed.sh [output.md]     (default docs/benchmarks/syncbatchnorm.md)
# Keep the machine otherwise idle while it runs (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmarks/syncbatchnorm.md}"
dotnet build -c Release benchmarks/NormSharp.Distributed.Benchmarks -v quiet -nologo
export OMPI_MCA_plm=isolated OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo TERM=dumb
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
mpirun.openmpi "${root[@]}" -np 2 dotnet benchmarks/NormSharp.Distributed.Benchmarks/bin/Release/net10.0/NormSharp.Distributed.Benchmarks.dll --out "$out"
