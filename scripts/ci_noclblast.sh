#!/bin/sh
# ci_noclblast.sh - the build without CLBlast (-DSEQBOAT_CLBLAST=OFF) in
# ./build-noclblast, on PoCL:
#   1. configure and build it; its include path starts with a stand-in
#      clblast_c.h / clblast.h that stops the compile (CMakeLists.txt), so a
#      CLBlast include not guarded by SEQBOAT_HAVE_CLBLAST fails the build;
#   2. check that no object read a CLBlast header (the compilers' .d files),
#      that the stand-in does stop a compile, and that libseqboat.so needs no
#      libclblast and names no CLBlast symbol;
#   3. seqboat selftest passes and says its CLBlast GEMM was skipped;
#      SEQBOAT_LINEAR=clblast fails with a message naming the build option;
#      seqboat tune runs (tiny shapes); bench/sgemm_compare.sh skips (77);
#   4. CTest: the suites labelled 'kernel|fixtures' (without the test cases
#      tagged "large") and the GEMM suites (their refusals), the own GEMM
#      (test_linear) and the extensible structs; only
#      those suites (and the library and program) are built.
# Exits non-zero if any check or test fails.
#   SEQBOAT_NOCLBLAST_DIR   build folder (default build-noclblast)
set -eu
cd "$(dirname "$0")/.."
BUILD=${SEQBOAT_NOCLBLAST_DIR:-build-noclblast}
t0=$(date +%s)
fail() { echo "ci_noclblast: FAIL: $*" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSEQBOAT_CLBLAST=OFF -DSEQBOAT_MPI=OFF >/dev/null
grep -q '^SEQBOAT_CLBLAST:BOOL=OFF' "$BUILD/CMakeCache.txt" || fail "$BUILD is not configured with SEQBOAT_CLBLAST=OFF"
# the suites run below: the labels 'kernel|fixtures' (CMakeLists.txt) and these
EXTRA="test_gemm test_gemm_tune test_linear test_struct_size"
SUITES=$( (ctest --test-dir "$BUILD" -N -L 'kernel|fixtures' | sed -n 's/^ *Test *#[0-9]*: \(test_[a-z0-9_]*\)$/\1/p'
           for t in $EXTRA; do echo "$t"; done) | sort -u)
[ "$(echo "$SUITES" | wc -l)" -gt 8 ] || fail "too few suites found: $SUITES"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j2 --target seqboat seqboat_cli $SUITES >"$BUILD/build.log" 2>&1 ||
    { tail -30 "$BUILD/build.log"; fail "build (log: $BUILD/build.log)"; }
echo "ok  built $BUILD with SEQBOAT_CLBLAST=OFF ($(( $(date +%s) - t0 )) s)"

# 2. no CLBlast header read, none linked
stub="$BUILD/no-clblast-include/clblast_c.h"
[ -f "$stub" ] || fail "the stand-in $stub is missing"
if printf '#include <clblast_c.h>\n' | ${CC:-cc} -I"$BUILD/no-clblast-include" -fsyntax-only -x c - 2>/dev/null; then
    fail "the stand-in clblast_c.h does not stop a compile"
fi
n_dep=$(find "$BUILD/CMakeFiles" -name '*.d' | wc -l)
[ "$n_dep" -gt 50 ] || fail "only $n_dep dependency files under $BUILD/CMakeFiles"
if find "$BUILD/CMakeFiles" -name '*.d' -exec grep -lE 'clblast(_c)?\.h' {} + | grep .; then
    fail "the objects above read a CLBlast header"
fi
echo "ok  none of $n_dep objects read a CLBlast header; the stand-in stops a compile"
if readelf -d "$BUILD/libseqboat.so" | grep -i 'NEEDED.*clblast'; then fail "libseqboat.so needs CLBlast"; fi
if nm -D "$BUILD/libseqboat.so" | grep -i clblast; then fail "libseqboat.so names CLBlast symbols"; fi
if readelf -d "$BUILD/seqboat" | grep -i 'NEEDED.*clblast'; then fail "the seqboat program needs CLBlast"; fi
echo "ok  libseqboat.so and seqboat link no CLBlast"

# 3. the program
sh scripts/icd_setup.sh "$BUILD/icd" >/dev/null
OCL_ICD_VENDORS=$PWD/$BUILD/icd/pocl
SEQBOAT_CACHE_DIR=$PWD/$BUILD/cache
export OCL_ICD_VENDORS SEQBOAT_CACHE_DIR
unset SEQBOAT_DEVICE SEQBOAT_LINEAR SEQBOAT_GEMM_XGEMM SEQBOAT_GEMM_XGEMM_DIRECT CK_RUN_CASE CK_INCLUDE_TAGS \
    SEQBOAT_KERNEL_DIR || true
out=$("$BUILD/seqboat" selftest) || fail "seqboat selftest: $out"
echo "$out"
echo "$out" | grep -q "CLBlast GEMM skipped" || fail "selftest does not say its CLBlast GEMM was skipped"
if err=$(SEQBOAT_LINEAR=clblast "$BUILD/seqboat" selftest 2>&1); then fail "SEQBOAT_LINEAR=clblast selftest passed"; fi
echo "$err" | grep -q "SEQBOAT_CLBLAST=OFF" || fail "SEQBOAT_LINEAR=clblast: unclear message: $err"
echo "ok  SEQBOAT_LINEAR=clblast refused: $err"
tune_dir=$(mktemp -d)
SEQBOAT_CACHE_DIR=$tune_dir "$BUILD/seqboat" tune --rows 32 --repeats 1 \
    --model models/tiny-pystdlib.safetensors 2>"$BUILD/tune.log" || { cat "$BUILD/tune.log"; fail "seqboat tune"; }
rm -rf "$tune_dir"
if grep -q clblast "$BUILD/tune.log"; then fail "seqboat tune tried CLBlast"; fi
echo "ok  seqboat tune ($(grep -c '^tune: \[' "$BUILD/tune.log") candidates, none CLBlast)"
rc=0
sh bench/sgemm_compare.sh "$BUILD" >/dev/null 2>"$BUILD/sgemm.log" || rc=$?
[ "$rc" -eq 77 ] || { cat "$BUILD/sgemm.log"; fail "bench/sgemm_compare.sh exited $rc, not 77 (skip)"; }
echo "ok  bench/sgemm_compare.sh: $(cat "$BUILD/sgemm.log")"

# 4. the tests
CK_EXCLUDE_TAGS=large
export CK_EXCLUDE_TAGS
rc=0
ctest --test-dir "$BUILD" -V -j2 --timeout 600 -R "^($(echo $SUITES | tr ' ' '|'))\$" \
    > "$BUILD/ctest.log" 2>&1 || rc=$?
echo "Check counts per suite (full log: $BUILD/ctest.log):"
grep -E "^ *[0-9]+/[0-9]+ Test +#|^[0-9]+: [0-9]+%: Checks: |^[0-9]+: .*:[FE]:|^[0-9]+: SKIP: " \
    "$BUILD/ctest.log" || true
sed -n '/tests passed, /,$p' "$BUILD/ctest.log"
echo "ci_noclblast: $(( $(date +%s) - t0 )) s"
exit $rc
