#!/bin/sh
# ci_oclgrind.sh - the kernel suites and the small reference fixtures on
# Oclgrind, the OpenCL simulator, with its data-race (OCLGRIND_DATA_RACES),
# API-misuse (OCLGRIND_CHECK_API) and out-of-bounds checks (always on), plus
# the LayerNorm kernel of `seqboat selftest`. Work-items of a work-group run
# interleaved there, so missing barriers, races on global memory and
# out-of-bounds accesses show up that PoCL's CPU device hides.
#
# Fails on any failed test and on any Oclgrind report: each report carries a
# "Kernel: <name>" line (kernel checks) or "Oclgrind - OpenCL runtime error"
# (API checks); both are counted in every log. Before the real run, a canary
# puts the old layernorm race back into a copy of the kernels (SEQBOAT_KERNEL_DIR)
# and expects Oclgrind to report it, so a change in Oclgrind's output or in
# the set-up cannot make this step pass silently.
#
# What runs (the simulator is slow; `ctest -L kernel` lists the kernel suites):
#   every kernel suite except its test cases tagged "large" (CK_EXCLUDE_TAGS),
#   which run the same kernels at sizes that take the simulator too long:
#   test_gate's 300k- and 1M-token scans, test_block's L = 700 fixture in
#   blocks; test_fixtures test case "small" (7 shared fixtures, both API
#   paths; the L = 700 one and tests/data/extra are left to PoCL and rusticl).
#
# With --gpu-paths (scripts/ci_gpu_paths.sh runs it so), the same checks with
# every GPU-class kernel forced (SEQBOAT_LINEAR=lds:64,64,16,4,4,
# SEQBOAT_ATTN=lds, SEQBOAT_EMA=scan, SEQBOAT_ROWS=wg, SEQBOAT_DECODE=split) over what runs whole
# models: `seqboat selftest`, test_stream case "small_models" (stream vs
# forward, two short fixtures), test_block without its "large" case and
# test_fixtures case "small"; logs in BUILD/oclgrind-gpu-paths.
#
#   sh scripts/ci_oclgrind.sh [--gpu-paths]
#   SEQBOAT_BUILD_DIR   build folder (default build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${SEQBOAT_BUILD_DIR:-build}
gpu_paths=0
case ${1:-} in
    --gpu-paths) gpu_paths=1 ;;
    "") ;;
    *) echo "usage: sh scripts/ci_oclgrind.sh [--gpu-paths]" >&2; exit 2 ;;
esac
sh scripts/bootstrap.sh oclgrind
sh scripts/icd_setup.sh "$BUILD/icd" >/dev/null
[ -f "$BUILD/icd/oclgrind/oclgrind.icd" ] || { echo "ci_oclgrind: Oclgrind's ICD library not found" >&2; exit 1; }
LOGS=$BUILD/oclgrind
[ $gpu_paths -eq 0 ] || LOGS=$BUILD/oclgrind-gpu-paths
rm -rf "$LOGS"
mkdir -p "$LOGS"
OCL_ICD_VENDORS=$PWD/$BUILD/icd/oclgrind
OCLGRIND_DATA_RACES=1
OCLGRIND_CHECK_API=1
SEQBOAT_DEVICE=oclgrind
SEQBOAT_CACHE_DIR=$PWD/$LOGS/cache
CK_TIMEOUT_MULTIPLIER=6
CK_VERBOSITY=normal
CK_EXCLUDE_TAGS=large
export OCL_ICD_VENDORS OCLGRIND_DATA_RACES OCLGRIND_CHECK_API SEQBOAT_DEVICE SEQBOAT_CACHE_DIR \
    CK_TIMEOUT_MULTIPLIER CK_VERBOSITY CK_EXCLUDE_TAGS
unset CK_RUN_CASE CK_INCLUDE_TAGS SEQBOAT_KERNEL_DIR || true
if [ $gpu_paths -eq 1 ]; then
    SEQBOAT_LINEAR=lds:64,64,16,4,4 SEQBOAT_ATTN=lds SEQBOAT_EMA=scan SEQBOAT_ROWS=wg SEQBOAT_DECODE=split
    export SEQBOAT_LINEAR SEQBOAT_ATTN SEQBOAT_EMA SEQBOAT_ROWS SEQBOAT_DECODE
fi

# Reports in a log file.
reports() { grep -cE '^[[:space:]]+Kernel: |Oclgrind - OpenCL runtime error|OCLGRIND FATAL' "$1" || true; }

status=0
total=0
# run NAME LOG COMMAND...: runs it, counts the reports, prints one line.
run() {
    name=$1 log=$2
    shift 2
    t0=$(date +%s)
    rc=0
    "$@" >"$log" 2>&1 || rc=$?
    n=$(reports "$log")
    total=$((total + n))
    checks=$(grep -E "^[0-9]+%: Checks:" "$log" | tail -1 || true)
    echo "ci_oclgrind: $name: exit $rc, $n Oclgrind report(s), $(( $(date +%s) - t0 )) s${checks:+; $checks}"
    if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
        status=1
        echo "ci_oclgrind: $name FAILED; first lines of $log:" >&2
        grep -vE "^Running suite" "$log" | head -40 >&2
    fi
}

# -- canary: the race fixed in cl/norm_eltwise.cl, put back, must be reported --
canary=$LOGS/canary-kernels
mkdir -p "$canary"
cp cl/*.cl "$canary/"
sed -i 's/^    const float x0 = red\[base\];$/    const float x0 = valid ? x[xr] : 0.0f;/' "$canary/norm_eltwise.cl"
if cmp -s cl/norm_eltwise.cl "$canary/norm_eltwise.cl"; then
    echo "ci_oclgrind: canary: the mutation no longer applies to cl/norm_eltwise.cl (update it)" >&2
    exit 1
fi
rc=0
# SEQBOAT_ROWS=wg: the work-group LayerNorm, where the race was (Oclgrind's
# device type includes CL_DEVICE_TYPE_CPU, so by default the library picks the
# one-item-per-row kernel there, which has no such race to put back)
SEQBOAT_ROWS=wg SEQBOAT_KERNEL_DIR=$PWD/$canary SEQBOAT_CACHE_DIR=off "$BUILD/seqboat" selftest >"$LOGS/canary.log" 2>&1 || rc=$?
n=$(reports "$LOGS/canary.log")
if [ "$n" -eq 0 ]; then
    echo "ci_oclgrind: canary: the layernorm race put back was NOT reported (exit $rc): the check is blind" >&2
    head -20 "$LOGS/canary.log" >&2
    exit 1
fi
echo "ci_oclgrind: canary: the old layernorm race is reported ($n reports): the check works"

# -- the GPU-class kernels through whole models (--gpu-paths) -------------------------
if [ $gpu_paths -eq 1 ]; then
    run "seqboat selftest (GPU-class kernels)" "$LOGS/selftest.log" "$BUILD/seqboat" selftest
    # small_models carries the tag "large" (the default pass leaves it out)
    CK_RUN_CASE=small_models run "test_stream (case small_models)" "$LOGS/test_stream.log" \
        env -u CK_EXCLUDE_TAGS "$BUILD/test_stream"
    run "test_block" "$LOGS/test_block.log" "$BUILD/test_block"
    CK_RUN_CASE=small run "test_fixtures (case small)" "$LOGS/test_fixtures.log" "$BUILD/test_fixtures"
    echo "ci_oclgrind: GPU-class kernels: $total Oclgrind report(s) in total (logs: $LOGS)"
    exit $status
fi

# -- the kernels ------------------------------------------------------------------
run "seqboat selftest" "$LOGS/selftest.log" "$BUILD/seqboat" selftest
run "seqboat selftest (work-group rows)" "$LOGS/selftest-wg.log" env SEQBOAT_ROWS=wg "$BUILD/seqboat" selftest
SUITES=$(ctest --test-dir "$BUILD" -N -L kernel | sed -n 's/^ *Test *#[0-9]*: //p')
[ -n "$SUITES" ] || { echo "ci_oclgrind: no suites labelled 'kernel' in $BUILD" >&2; exit 1; }
for t in $SUITES; do
    run "$t" "$LOGS/$t.log" "$BUILD/$t"
done
CK_RUN_CASE=small run "test_fixtures (case small)" "$LOGS/test_fixtures.log" "$BUILD/test_fixtures"

echo "ci_oclgrind: $total Oclgrind report(s) in total (logs: $LOGS)"
exit $status
