#!/bin/sh
# ci_rusticl.sh - the kernel suites, every reference fixture and the program
# cache suites on Mesa's rusticl (llvmpipe device), a second, independent
# OpenCL implementation: ctest -L 'kernel|fixtures|cache' (labels in
# CMakeLists.txt) with the ICD loader showing rusticl only. Suites that need
# PoCL report themselves skipped; test cases tagged "large" (more blocks,
# parameter sets and scan lengths of the same kernels) are left to PoCL.
# Fails if any test fails or if rusticl shows
# no device.
#
#   SEQBOAT_BUILD_DIR   build folder (default build)
#   SEQBOAT_RUSTICL_LABELS  ctest -L expression (default 'kernel|fixtures|cache')
set -eu
cd "$(dirname "$0")/.."
BUILD=${SEQBOAT_BUILD_DIR:-build}
LABELS=${SEQBOAT_RUSTICL_LABELS:-kernel|fixtures|cache}
sh scripts/bootstrap.sh mesa-opencl-icd
sh scripts/icd_setup.sh "$BUILD/icd" >/dev/null
[ -f "$BUILD/icd/rusticl/rusticl.icd" ] || { echo "ci_rusticl: rusticl's ICD library not found" >&2; exit 1; }
OCL_ICD_VENDORS=$PWD/$BUILD/icd/rusticl
RUSTICL_ENABLE=llvmpipe
SEQBOAT_DEVICE=rusticl
SEQBOAT_CACHE_DIR=$PWD/$BUILD/cache-rusticl
export OCL_ICD_VENDORS RUSTICL_ENABLE SEQBOAT_DEVICE SEQBOAT_CACHE_DIR
unset CK_RUN_CASE CK_INCLUDE_TAGS SEQBOAT_KERNEL_DIR || true
# test cases tagged "large" (more blocks, more parameter sets, longer scans of
# the same kernels) run on PoCL only: each launch costs ~0.5 ms on llvmpipe
CK_EXCLUDE_TAGS=large
export CK_EXCLUDE_TAGS
"$BUILD/seqboat" devices | grep -E "^default device" || { echo "ci_rusticl: no rusticl device" >&2; exit 1; }
rc=0
ctest --test-dir "$BUILD" -L "$LABELS" -V -j2 --timeout 1500 > "$BUILD/ctest-rusticl.log" 2>&1 || rc=$?
echo "Check counts per suite (full log: $BUILD/ctest-rusticl.log):"
grep -E "^ *[0-9]+/[0-9]+ Test +#|^[0-9]+: [0-9]+%: Checks: |^[0-9]+: .*:[FE]:|^[0-9]+: SKIP: " \
    "$BUILD/ctest-rusticl.log" || true
sed -n '/tests passed, /,$p' "$BUILD/ctest-rusticl.log"
exit $rc
