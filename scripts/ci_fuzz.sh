#!/usr/bin/env bash
# ci_fuzz.sh - build the libFuzzer targets with clang in build-fuzz and run each
# for a bounded time, one after the other. Exits non-zero when a target crashes,
# leaks, hits a sanitizer report, times out on one input, runs out of memory or
# makes one allocation over 64 MiB (inputs are at most 64 KiB: that is absurd);
# the input that did it is left in build-fuzz/artifacts/.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   targets to run (default "fuzz_model fuzz_input")
#   CC             a clang (default: clang)
#
# Seeds: tests/data/*.model.safetensors for fuzz_model, tests/data/*.io.safetensors
# for fuzz_input, plus the same in tests/fuzz/seeds/ (F16 and BF16 tensors: a
# model with F16, BF16 and F32 tensors mixed, an F16 input), copied into
# build-fuzz/seeds/<target>/ on every run. What the
# fuzzer finds goes to build-fuzz/corpus/<target>/ and is kept between local runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-fuzz
SECONDS_PER=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"fuzz_model fuzz_input"}
CCOMP=${CC:-clang}
# clang and its libFuzzer/sanitizer runtimes come from Debian's clang and
# libclang-rt-14-dev; scripts/bootstrap.sh installs them when missing.
sh scripts/bootstrap.sh clang libclang-rt-14-dev
case "$("$CCOMP" --version 2>/dev/null | head -1)" in
  *clang*) ;;
  *) echo "ci_fuzz: '$CCOMP' is not clang (install the Debian 'clang' package)" >&2; exit 2 ;;
esac

echo "ci_fuzz: configuring $BUILD with $CCOMP"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CCOMP" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSEQBOAT_FUZZ=ON -DSEQBOAT_BUILD_TESTS=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" --target $TARGETS -j"$(nproc)"

seed_glob() {
  case "$1" in
    fuzz_model) echo "$ROOT/tests/data/*.model.safetensors $ROOT/tests/fuzz/seeds/*.model.safetensors" ;;
    fuzz_input) echo "$ROOT/tests/data/*.io.safetensors $ROOT/tests/fuzz/seeds/*.io.safetensors" ;;
    *) echo "" ;;
  esac
}

status=0
for t in $TARGETS; do
  seeds=$BUILD/seeds/$t corpus=$BUILD/corpus/$t arts=$BUILD/artifacts/$t
  rm -rf "$seeds"
  mkdir -p "$seeds" "$corpus" "$arts"
  # shellcheck disable=SC2046
  cp $(seed_glob "$t") "$seeds"/
  echo "ci_fuzz: $t for ${SECONDS_PER} s ($(ls "$seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) in corpus)"
  set +e
  "$BUILD/$t" "$corpus" "$seeds" -dict="$ROOT/tests/fuzz/safetensors.dict" \
    -max_total_time="$SECONDS_PER" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64 \
    -print_final_stats=1 -artifact_prefix="$arts/" 2>"$BUILD/$t.log"
  rc=$?
  set -e
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$BUILD/$t.log" || true
  if [ $rc -ne 0 ]; then
    echo "ci_fuzz: $t FAILED (exit $rc); log tail:" >&2
    tail -40 "$BUILD/$t.log" >&2
    ls -l "$arts" >&2
    status=1
  else
    echo "ci_fuzz: $t ok"
  fi
done
exit $status
