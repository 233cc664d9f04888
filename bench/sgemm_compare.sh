#!/bin/sh
# Build (CMake target sgemm_compare, configured when OpenBLAS is installed:
# libopenblas-dev) and run bench/sgemm_compare.c: OpenBLAS SGEMM vs the
# library's GEMM on the same machine.
#   bench/sgemm_compare.sh [BUILD_DIR] [DEVICE] [--untuned] [--json]
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shift 2>/dev/null || true
cmake -S "$here/.." -B "$build" >/dev/null
if ! cmake --build "$build" --target sgemm_compare -j"$(nproc)" >/dev/null; then
    echo "sgemm_compare.sh: the sgemm_compare target did not build (is libopenblas-dev installed?)" >&2
    exit 1
fi
exec "$build/sgemm_compare" "$@"
