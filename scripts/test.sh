#!/bin/sh
# Install what is missing, build, run every test: the Check suites through
# CTest on PoCL, the build without CLBlast (its GEMM, kernel and fixture suites
# on PoCL), then the CI matrix over the other OpenCL implementations
# (kernel suites, fixtures and cache suites on Mesa rusticl; kernel suites and
# the small fixtures on Oclgrind with its race, bounds and API checks; every
# command with all three registered), then the install/packaging checks
# (examples built with pkg-config and find_package), the Python binding's
# pytest suite, Valgrind memcheck on the host-only suites, the bench report
# page in headless Chromium, the ASan+UBSan build, ThreadSanitizer on the
# threading test, short fuzz runs and the MPI checks (mpirun -np 2 and 3).
# Each step prints its time. Exits non-zero if any step fails.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
sh scripts/build.sh
sh scripts/icd_setup.sh build/icd
# Every step sees PoCL only, unless it picks another folder itself (the matrix
# steps): the steps below install mesa-opencl-icd, whose rusticl.icd in
# /etc/OpenCL/vendors would otherwise be loaded by every process (without
# RUSTICL_ENABLE it lists no device, but it keeps memory LeakSanitizer reports).
OCL_ICD_VENDORS=$PWD/build/icd/pocl
export OCL_ICD_VENDORS
rc=0
step() {
    echo "== $*"
    t0=$(date +%s)
    if "$@"; then r="ok"; else r="FAILED"; rc=1; fi
    echo "== $r: $* ($(( $(date +%s) - t0 )) s)"
}
# The whole suite on PoCL (the ICD loader shows PoCL only).
ctest_all() {
    r=0
    ctest --test-dir build -V -j2 --timeout 1500 > build/ctest.log 2>&1 || r=$?
    echo "Check counts per suite (full log: build/ctest.log):"
    grep -E "^ *[0-9]+/[0-9]+ Test +#|^[0-9]+: [0-9]+%: Checks: |^[0-9]+: .*:[FE]:|^[0-9]+: SKIP: " \
        build/ctest.log || true
    sed -n '/tests passed, /,$p' build/ctest.log
    return $r
}
step ctest_all
step sh scripts/ci_noclblast.sh
step sh scripts/ci_rusticl.sh
step sh scripts/ci_oclgrind.sh
step sh scripts/ci_gpu_paths.sh
step sh scripts/ci_icds.sh
step sh scripts/ci_package.sh
step sh scripts/ci_python.sh
step sh scripts/ci_report.sh
step sh scripts/ci_valgrind.sh
step bash scripts/ci_sanitize.sh
step sh scripts/ci_tsan.sh
step bash scripts/ci_fuzz.sh
step sh scripts/ci_mpi.sh
exit $rc
