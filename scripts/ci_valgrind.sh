#!/bin/sh
# ci_valgrind.sh - Valgrind memcheck on the host-only parts: the safetensors
# reader/writer, the model/input file loader and validation, and the arena
# planner (test case "host"; the device cases need OpenCL, whose JIT and
# driver threads are out of scope here: they run under ASan in ci_sanitize.sh).
# Check's fork mode is off so that memcheck sees every test in one process.
# Any invalid access, use of uninitialised memory or definite leak fails.
#
#   SEQBOAT_BUILD_DIR   build folder holding the test programs (default build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${SEQBOAT_BUILD_DIR:-build}
sh scripts/bootstrap.sh valgrind
status=0
run() { # program [CK_RUN_CASE]
    prog=$BUILD/$1
    [ -x "$prog" ] || { echo "ci_valgrind: $prog missing (build first)" >&2; exit 2; }
    echo "ci_valgrind: $1${2:+ (case $2)}"
    if [ -n "${2:-}" ]; then CK_RUN_CASE=$2; export CK_RUN_CASE; else unset CK_RUN_CASE; fi
    if ! CK_FORK=no valgrind --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --track-origins=yes "$prog" >"$BUILD/valgrind_$1.log" 2>&1; then
        echo "ci_valgrind: $1 FAILED; log tail:" >&2
        tail -40 "$BUILD/valgrind_$1.log" >&2
        status=1
    else
        grep -E "Checks:" "$BUILD/valgrind_$1.log" || true
    fi
}
run test_safetensors
run test_model_file
run test_arena host
[ $status -eq 0 ] && echo "ci_valgrind: no memcheck errors"
exit $status
