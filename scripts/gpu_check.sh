#!/bin/sh
# gpu_check.sh - one prepared check of a machine with an OpenCL GPU: builds
# (Release), lists the devices, runs `seqboat selftest --device all`, the CTest
# suites labelled "kernel" and "fixtures" on each GPU, `seqboat peak`,
# `seqboat tune` and a bench of the demo model (4K and 32K tokens; sma, dense,
# decode), and writes every result into OUTDIR. Exits 0 only when every step
# passed; any failed test, selftest mismatch or failed command is a non-zero
# exit, and so is a step cut off by the time budget (default 470 s, so the
# whole check ends inside 8 minutes).
#
#   sh scripts/gpu_check.sh [options] OUTDIR
#     --cpu          accept CPU devices too (every device but a simulator):
#                    how CI runs the same flow without a GPU
#                    (scripts/ci_gpu_paths.sh)
#     --quick        short tune and bench (1K tokens, one repeat) for CI
#     --tests REGEX  only the CTest suites matching REGEX (within the labels)
#     --budget S     time budget of the whole check in seconds (default 470)
#     --deps DIR     folder of unpacked .deb files (scripts/gpu_deps.sh) for a
#                    machine without the build's packages; default .gpu-deps
#                    when that folder exists and something is missing here
#   SEQBOAT_BUILD_DIR   build folder (default build)
#   SEQBOAT_CACHE_DIR   program, peak and tune cache (default BUILD/gpu-check-cache)
#   SEQBOAT_LINEAR, SEQBOAT_ATTN, SEQBOAT_EMA, SEQBOAT_ROWS, ... pass through
#   to every step (recorded in OUTDIR/env.txt).
#
# Devices: the ICD loader's (OCL_ICD_VENDORS or /etc/OpenCL/vendors). When no
# GPU shows there, the vendors' OpenCL libraries are looked for
# (libnvidia-opencl.so.1, libamdocl64.so, Intel's libigdrcl.so) and registered
# in a private folder, OUTDIR/icd, that OCL_ICD_VENDORS then names; nothing is
# written outside OUTDIR and the build folder. Each step's log is
# OUTDIR/<step>.log; OUTDIR/summary.txt has one line per step (status,
# seconds) and the verdict. See README.md ("Checking a GPU").
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD

cpu=0 quick=0 tests="" budget=470 deps=""
while [ $# -gt 0 ]; do
    case $1 in
        --cpu) cpu=1 ;;
        --quick) quick=1 ;;
        --tests) tests=$2; shift ;;
        --budget) budget=$2; shift ;;
        --deps) deps=$2; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        -*) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "usage: sh scripts/gpu_check.sh [--cpu] [--quick] [--tests REGEX] [--budget S] [--deps DIR] OUTDIR" >&2; exit 2; }
case $budget in ''|*[!0-9]*) echo "gpu_check: --budget needs seconds" >&2; exit 2 ;; esac
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
BUILD=${SEQBOAT_BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SEQBOAT_CACHE_DIR=${SEQBOAT_CACHE_DIR:-$BUILD/gpu-check-cache}
export SEQBOAT_CACHE_DIR
MODEL=$ROOT/models/tiny-pystdlib.safetensors
NPROC=$(nproc 2>/dev/null || echo 2)
SUMMARY=$OUTDIR/summary.txt
: >"$SUMMARY"
T0=$(date +%s)
rc=0

say() { echo "gpu_check: $*"; }
note() { echo "$*" >>"$SUMMARY"; }
left() { echo $((budget - ($(date +%s) - T0))); }

# step NAME CAP COMMAND...: runs COMMAND with its output in OUTDIR/NAME.log,
# cut off after CAP seconds or what is left of the budget; one summary line.
step() {
    name=$1 cap=$2
    shift 2
    lim=$(left)
    [ "$cap" -lt "$lim" ] || cap=$lim
    if [ "$cap" -le 0 ]; then
        note "$(printf '%-28s %-10s %5s s' "$name" "NOT RUN" 0)  (time budget of ${budget} s spent)"
        say "$name: not run (time budget spent)"
        rc=1
        return 1
    fi
    t=$(date +%s)
    r=0
    timeout -k 10 "$cap" "$@" >"$OUTDIR/$name.log" 2>&1 || r=$?
    dt=$(( $(date +%s) - t ))
    if [ $r -eq 0 ]; then s=ok; else s=FAILED; rc=1; fi
    extra=""
    [ $r -eq 124 ] || [ $r -eq 137 ] && extra="  (cut off after $cap s)"
    note "$(printf '%-28s %-10s %5s s' "$name" "$s" "$dt")  exit $r$extra"
    say "$name: $s (exit $r, $dt s)"
    if [ $r -ne 0 ]; then tail -15 "$OUTDIR/$name.log" | sed 's/^/    /'; fi
    return $r
}

# ---- what the build needs, from the system or from unpacked .deb files ---------------
# (scripts/gpu_deps.sh writes DIR/root from the packages it names)
have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$@" 2>/dev/null; }
ocl_headers() { [ -f /usr/include/CL/cl.h ] || [ -f /usr/local/include/CL/cl.h ]; }
system_ok() { have_pc clblast libcjson libcrypto check && ocl_headers && ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so\.1'; }
if [ -z "$deps" ] && [ -d "$ROOT/.gpu-deps/root" ] && ! system_ok; then deps=$ROOT/.gpu-deps; fi
CMAKE_DEPS=""
if [ -n "$deps" ]; then
    case $deps in /*) ;; *) deps=$ROOT/$deps ;; esac
    R=$deps/root
    [ -d "$R/usr" ] || { say "$deps/root/usr missing: run scripts/gpu_deps.sh $deps where a package registry is reachable"; exit 2; }
    MA=x86_64-linux-gnu
    if [ ! -d "$R/usr/lib/$MA" ]; then
        for l in "$R"/usr/lib/*-linux-gnu; do MA=${l##*/}; done
    fi
    export PATH="$PATH:$R/usr/bin"
    export LD_LIBRARY_PATH="$R/usr/lib/$MA${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # every .pc file from the folder; its /usr paths moved under it
    export PKG_CONFIG_LIBDIR="$R/usr/lib/$MA/pkgconfig:$R/usr/share/pkgconfig"
    export PKG_CONFIG_SYSROOT_DIR="$R"
    pc=$(command -v pkg-config 2>/dev/null || echo "$R/usr/bin/pkgconf")
    CMAKE_DEPS="-DPKG_CONFIG_EXECUTABLE=$pc -DOpenCL_INCLUDE_DIR=$R/usr/include -DOpenCL_LIBRARY=$R/usr/lib/$MA/libOpenCL.so"
    say "build dependencies from $deps (pkg-config: $pc)"
fi

# ---- record the machine ------------------------------------------------------------
{
    echo "date: $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    echo "host: $(uname -a)"
    echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (modified)')"
    echo "mode: $([ $cpu = 1 ] && echo 'cpu (CPU devices accepted)' || echo gpu)$([ $quick = 1 ] && echo ', quick')"
    echo "cores: $NPROC"
    echo "deps: ${deps:-system}"
    echo "build: $BUILD"
    echo "cache: $SEQBOAT_CACHE_DIR"
    echo "OCL_ICD_VENDORS: ${OCL_ICD_VENDORS:-unset (/etc/OpenCL/vendors)}"
    env | grep -E '^(SEQBOAT|POCL|OCLGRIND|RUSTICL)_' | sort || true
    if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L 2>&1 || true; fi
} >"$OUTDIR/env.txt"

# ---- build ---------------------------------------------------------------------------
gen=""
if [ ! -f "$BUILD/CMakeCache.txt" ] && ! command -v make >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1; then
    gen="-G Ninja"
fi
# shellcheck disable=SC2086
if ! step configure 120 cmake -S "$ROOT" -B "$BUILD" $gen -DCMAKE_BUILD_TYPE=Release $CMAKE_DEPS ||
    ! step build 300 cmake --build "$BUILD" -j"$NPROC"; then
    note "verdict: FAILED (the build failed; see configure.log, build.log)"
    cat "$SUMMARY"
    exit 1
fi
SB=$BUILD/seqboat

# ---- the devices under test ------------------------------------------------------------
# "index<TAB>type<TAB>platform<TAB>name" per device, from `seqboat devices`.
device_table() {
    "$SB" devices 2>/dev/null | awk '
        /^\[[0-9]+\] / { if (idx != "") print idx "\t" type "\t" plat "\t" name
                         idx = substr($1, 2, length($1) - 2); name = $0; sub(/^\[[0-9]+\] /, "", name)
                         sub(/  \(default\)$/, "", name); type = ""; plat = "" }
        /^    platform: / { plat = $0; sub(/^    platform: +/, "", plat) }
        /^    type: / { type = $2 }
        END { if (idx != "") print idx "\t" type "\t" plat "\t" name }'
}
# Indices of the devices to test: GPUs (with --cpu: any device), never a simulator.
targets() {
    device_table | awk -F'\t' -v cpu="$cpu" '
        tolower($3 " " $4) ~ /oclgrind/ { next }
        cpu == 1 || $2 ~ /GPU/ { printf "%s ", $1 }'
}

# A vendor's OpenCL library: the first path found, else "".
find_lib() {
    for n in "$@"; do
        p=$(ldconfig -p 2>/dev/null | awk -v n="$n" '$1 == n { print $NF; exit }')
        if [ -n "$p" ] && [ -f "$p" ]; then echo "$p"; return 0; fi
    done
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib \
        /usr/local/cuda/lib64 /usr/local/cuda/compat /opt/rocm/lib /opt/rocm/opencl/lib \
        /opt/amdgpu-pro/lib/x86_64-linux-gnu /opt/amdgpu/lib/x86_64-linux-gnu \
        /usr/lib/x86_64-linux-gnu/intel-opencl /usr/local/lib/intel-opencl /opt/intel/opencl; do
        for n in "$@"; do
            if [ -f "$d/$n" ]; then echo "$d/$n"; return 0; fi
        done
    done
    for d in /usr/local/nvidia /opt/rocm /usr/lib/x86_64-linux-gnu /usr/local/lib; do
        [ -d "$d" ] || continue
        for n in "$@"; do
            p=$(find "$d" -maxdepth 4 -name "$n" -type f 2>/dev/null | head -1)
            if [ -n "$p" ]; then echo "$p"; return 0; fi
        done
    done
    echo ""
}
# Registers the vendors' libraries found in OUTDIR/icd; 0 if any.
register_vendors() {
    rm -rf "$OUTDIR/icd"
    mkdir -p "$OUTDIR/icd"
    found=0
    for v in "nvidia libnvidia-opencl.so.1 libnvidia-opencl.so" \
        "amd libamdocl64.so libamdocl64.so.2 libamdocl-orca64.so" \
        "intel libigdrcl.so libigdrcl.so.1"; do
        # shellcheck disable=SC2086
        set -- $v
        vendor=$1
        shift
        lib=$(find_lib "$@")
        if [ -n "$lib" ]; then
            echo "$lib" >"$OUTDIR/icd/$vendor.icd"
            say "registered $lib in $OUTDIR/icd/$vendor.icd"
            found=1
        fi
    done
    [ $found = 1 ]
}

T=$(targets)
if [ -z "$T" ] && [ $cpu = 0 ]; then
    say "no GPU among the registered OpenCL devices; looking for the vendors' libraries"
    if register_vendors; then
        OCL_ICD_VENDORS=$OUTDIR/icd
        export OCL_ICD_VENDORS
        echo "OCL_ICD_VENDORS (set by gpu_check): $OCL_ICD_VENDORS" >>"$OUTDIR/env.txt"
        cat "$OUTDIR"/icd/*.icd >>"$OUTDIR/env.txt"
        T=$(targets)
    fi
fi
step devices 60 "$SB" devices || true
device_table >"$OUTDIR/devices.tsv" || true
if [ -z "$T" ]; then
    note "verdict: FAILED (no $([ $cpu = 1 ] && echo device || echo GPU) to test; see devices.log)"
    say "no $([ $cpu = 1 ] && echo device || echo GPU) to test"
    cat "$SUMMARY"
    exit 1
fi
note "devices under test: $T"
say "devices under test: $T"

# ---- checks --------------------------------------------------------------------------
step selftest 120 "$SB" selftest --device all || true

if [ $quick = 1 ]; then
    TUNE_ARGS="--rows 256 --repeats 1"
    BENCH_ARGS="--lengths 1k --repeats 1 --warmup 0 --decode-steps 8 --no-build-time"
else
    TUNE_ARGS=""
    BENCH_ARGS="--lengths 4k,32k"
fi
J=$NPROC
[ "$J" -le 8 ] || J=8
for d in $T; do
    # the suites' device: SEQBOAT_DEVICE (tests/testutil.h)
    step "ctest-dev$d" 420 env SEQBOAT_DEVICE="$d" ctest --test-dir "$BUILD" -L 'kernel|fixtures' \
        ${tests:+-R "$tests"} --no-tests=error -j"$J" --timeout 400 --output-on-failure \
        --output-junit "$OUTDIR/ctest-dev$d.xml" || true
    if [ -f "$OUTDIR/ctest-dev$d.log" ]; then
        line=$(grep -E 'tests passed, ' "$OUTDIR/ctest-dev$d.log" | tail -1 || true)
        skipped=$(grep -E 'Not Run' "$OUTDIR/ctest-dev$d.log" | sed 's/.*Test *#[0-9]*: *//; s/ .*//' | tr '\n' ' ' || true)
        note "    $line${skipped:+; skipped (not passed): $skipped}"
    fi
    step "peak-dev$d" 90 "$SB" peak --device "$d" --fresh --quiet --json "$OUTDIR/peak-dev$d.json" || true
    # shellcheck disable=SC2086
    step "tune-dev$d" 120 "$SB" tune --device "$d" --model "$MODEL" $TUNE_ARGS || true
    # shellcheck disable=SC2086
    step "bench-dev$d" 240 "$SB" bench --device "$d" --model "$MODEL" --methods sma,dense,decode \
        $BENCH_ARGS --quiet --json "$OUTDIR/bench-dev$d.json" --csv "$OUTDIR/bench-dev$d.csv" || true
done

total=$(( $(date +%s) - T0 ))
if [ $rc -eq 0 ]; then
    note "verdict: ok ($total s)"
else
    note "verdict: FAILED ($total s; see the logs of the failed steps)"
fi
cat "$SUMMARY"
exit $rc
