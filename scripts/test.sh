#!/bin/sh
# Install what is missing, build, run every test (CTest running the Check suites).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
sh scripts/build.sh
rc=0
ctest --test-dir build --output-on-failure -j2 --timeout 1500 --output-log build/ctest.log || rc=$?
echo "Check counts per suite:"
grep -E "^[0-9]+%: Checks: " build/ctest.log || true
exit $rc
