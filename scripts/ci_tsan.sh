#!/bin/sh
# ci_tsan.sh - ThreadSanitizer on the threading rule of seqboat.h: builds the
# library and tests/test_threads.c with clang -fsanitize=thread in build-tsan
# and runs it in one process (CK_FORK=no): 8 threads, each with its own model,
# 100 forwards each, sharing one disk cache folder. Any data race or lock-order
# report fails. (PoCL and CLBlast are not instrumented: races inside them are
# out of reach; their pthread calls are intercepted, so our locking is seen.)
#
#   CC   a clang (default: clang; scripts/bootstrap.sh installs Debian's when missing)
set -eu
cd "$(dirname "$0")/.."
BUILD=build-tsan
CCOMP=${CC:-clang}
sh scripts/bootstrap.sh clang
echo "ci_tsan: configuring $BUILD with $CCOMP -fsanitize=thread"
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER="$CCOMP" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target test_threads
echo "ci_tsan: running test_threads"
if CK_FORK=no TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$BUILD/test_threads" >"$BUILD/tsan.log" 2>&1; then
    grep -E "Checks:" "$BUILD/tsan.log"
    echo "ci_tsan: no ThreadSanitizer reports"
else
    echo "ci_tsan: FAILED; log tail:" >&2
    tail -60 "$BUILD/tsan.log" >&2
    exit 1
fi
