#!/bin/sh
# ci_icds.sh - with PoCL, rusticl and Oclgrind all registered (one
# OCL_ICD_VENDORS folder, RUSTICL_ENABLE=llvmpipe), every seqboat command
# exits cleanly on each device: exit status 0, no signal, nothing from the C
# library's heap checks on stderr. Also: the default device is not the
# simulator, and `selftest --device all` passes on every device.
#
#   SEQBOAT_BUILD_DIR   build folder (default build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${SEQBOAT_BUILD_DIR:-build}
sh scripts/bootstrap.sh mesa-opencl-icd oclgrind
sh scripts/icd_setup.sh "$BUILD/icd" >/dev/null
for i in pocl rusticl oclgrind; do
    [ -f "$BUILD/icd/all/$i.icd" ] || { echo "ci_icds: $i is not installed" >&2; exit 1; }
done
OCL_ICD_VENDORS=$PWD/$BUILD/icd/all
RUSTICL_ENABLE=llvmpipe
SEQBOAT_CACHE_DIR=$PWD/$BUILD/cache-icds
export OCL_ICD_VENDORS RUSTICL_ENABLE SEQBOAT_CACHE_DIR
unset SEQBOAT_DEVICE SEQBOAT_KERNEL_DIR || true
OUT=$BUILD/icds
rm -rf "$OUT"
mkdir -p "$OUT"
CLI=$BUILD/seqboat
FX=tests/data/causal_relu2_layernorm
status=0
count=0
# check NAME COMMAND...: exit 0 and a clean stderr.
check() {
    what=$1
    shift
    count=$((count + 1))
    log=$OUT/$count.log
    rc=0
    "$@" >"$log.out" 2>"$log" || rc=$?
    if [ "$rc" -ne 0 ] || grep -qiE "corrupt|double free|free\(\)|malloc\(\)|abort|segmentation" "$log"; then
        echo "ci_icds: FAILED: $what (exit $rc): $*" >&2
        tail -5 "$log" >&2
        status=1
    else
        echo "ci_icds: ok: $what"
    fi
}

check "devices" "$CLI" devices
n=$(grep -cE '^\[[0-9]+\] ' "$OUT/1.log.out" || true)
grep -E "^default device" "$OUT/1.log.out"
if [ "$n" -lt 3 ]; then
    echo "ci_icds: FAILED: $n device(s) listed, expected at least 3 (one per implementation)" >&2
    status=1
fi
def=$(sed -n 's/^default device: \[\([0-9]*\)\].*/\1/p' "$OUT/1.log.out")
if [ -z "$def" ] || grep -E "^\[$def\] " "$OUT/1.log.out" | grep -qi oclgrind; then
    echo "ci_icds: FAILED: the simulator is the default device" >&2
    status=1
fi
check "version" "$CLI" version
check "help" "$CLI" help
check "inspect" "$CLI" inspect --model "$FX.model.safetensors"
check "selftest (default device)" "$CLI" selftest
check "selftest --device all" "$CLI" selftest --device all
cat "$OUT/$count.log.out"
d=0
while [ "$d" -lt "$n" ]; do
    dev=$(sed -n "s/^\[$d\] \(.*\)/\1/p" "$OUT/1.log.out" | sed 's/  (default)$//')
    check "[$d] $dev: selftest" "$CLI" selftest --device "$d"
    check "[$d] $dev: run" "$CLI" run --device "$d" --model "$FX.model.safetensors" \
        --input "$FX.io.safetensors" --output "$OUT/out$d.safetensors" --stats
    check "[$d] $dev: generate" "$CLI" generate --device "$d" --prompt "def f(x):" \
        --max-tokens 4 --temperature 0
    check "[$d] $dev: bench" "$CLI" bench --device "$d" --lengths 32 --d-model 32 --d-qk 16 \
        --d-hidden 64 --window 8 --methods sma,decode --decode-steps 2 --warmup 0 --repeats 1 \
        --no-build-time --quiet --json "$OUT/bench$d.json"
    d=$((d + 1))
done
check "bench --device all" "$CLI" bench --device all --lengths 16 --d-model 16 --d-qk 8 \
    --d-hidden 32 --window 4 --methods sma --warmup 0 --repeats 1 --no-build-time --quiet
echo "ci_icds: $count command(s) run with PoCL, rusticl and Oclgrind registered"
exit $status
