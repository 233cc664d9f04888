#!/bin/sh
# Build and run bench/sgemm_compare.c: OpenBLAS SGEMM vs the library's CLBlast
# GEMM on the same machine. Needs libopenblas-dev and a build of the library:
#   bench/sgemm_compare.sh [BUILD_DIR] [DEVICE] [--untuned] [--json]
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
shift 2>/dev/null || true
out=${TMPDIR:-/tmp}/seqboat-sgemm-compare
cc -O2 -std=c99 -D_POSIX_C_SOURCE=200809L -DCL_TARGET_OPENCL_VERSION=120 \
   -I"$here/../runtime" "$here/sgemm_compare.c" "$build/libseqboat.a" \
   -lopenblas -lclblast -lOpenCL -lcjson -lcrypto -lpthread -lm -o "$out"
exec "$out" "$@"
