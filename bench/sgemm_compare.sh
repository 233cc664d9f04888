#!/bin/sh
# Build (CMake target sgemm_compare, configured when OpenBLAS is installed:
# libopenblas-dev, and CLBlast is linked) and run bench/sgemm_compare.c:
# OpenBLAS SGEMM vs the library's GEMM and CLBlast on the same machine. Exits
# 77 (skip) for a build directory configured with SEQBOAT_CLBLAST=OFF.
#   bench/sgemm_compare.sh [BUILD_DIR] [DEVICE] [--untuned] [--json]
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shift 2>/dev/null || true
cmake -S "$here/.." -B "$build" >/dev/null
# the comparison includes CLBlast (sb_gemm): a SEQBOAT_CLBLAST=OFF build has no such target
if grep -q '^SEQBOAT_CLBLAST:BOOL=OFF' "$build/CMakeCache.txt" 2>/dev/null; then
    echo "sgemm_compare.sh: SKIP: $build is configured with SEQBOAT_CLBLAST=OFF and the comparison" \
         "includes CLBlast; use a build with CLBlast (the default)" >&2
    exit 77
fi
if ! cmake --build "$build" --target sgemm_compare -j"$(nproc)" >/dev/null; then
    echo "sgemm_compare.sh: the sgemm_compare target did not build (is libopenblas-dev installed?)" >&2
    exit 1
fi
exec "$build/sgemm_compare" "$@"
