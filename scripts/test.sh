#!/bin/sh
# Install what is missing, build, run every test: the Check suites through
# CTest, then the install/packaging checks (examples built with pkg-config and
# find_package), the Python binding's pytest suite, Valgrind memcheck on the
# host-only suites, the bench report page in headless Chromium, the
# ASan+UBSan build, ThreadSanitizer on the threading test, short fuzz runs and
# the MPI checks (mpirun -np 2 and 3). Exits non-zero if any step fails.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
sh scripts/build.sh
rc=0
step() {
    echo "== $*"
    if "$@"; then echo "== ok: $*"; else echo "== FAILED: $*"; rc=1; fi
}
ctest_all() {
    r=0
    ctest --test-dir build -V -j2 --timeout 1500 > build/ctest.log 2>&1 || r=$?
    echo "Check counts per suite (full log: build/ctest.log):"
    grep -E "^[0-9]+: [0-9]+%: Checks: |^[0-9]+: .*:[FE]:" build/ctest.log || true
    sed -n '/tests passed, /,$p' build/ctest.log
    return $r
}
step ctest_all
step sh scripts/ci_package.sh
step sh scripts/ci_python.sh
step sh scripts/ci_report.sh
step sh scripts/ci_valgrind.sh
step bash scripts/ci_sanitize.sh
step sh scripts/ci_tsan.sh
step bash scripts/ci_fuzz.sh
step sh scripts/ci_mpi.sh
exit $rc
