#!/bin/sh
# Python binding CI step: installs python3-numpy, python3-pytest (and what the
# install test uses) from Debian through bootstrap.sh when missing, builds the
# library when it is missing, and runs the binding's pytest suite against
# build/libseqboat.so.
# Uses Debian's /usr/bin/python3 on purpose (a pyenv or venv python earlier on
# PATH would not see the Debian packages). Exits non-zero when a test fails.
#   sh scripts/ci_python.sh [extra pytest arguments]
# Env: BUILD_DIR (default build), PYTHON (default /usr/bin/python3).
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-/usr/bin/python3}"
BUILD_DIR="${BUILD_DIR:-build}"

# setuptools, wheel and venv: the test that pip-installs the package offline
# (the seqboat-convert script) needs them, and skips without them.
sh scripts/bootstrap.sh python3-numpy python3-pytest python3-setuptools python3-wheel python3-venv
"$PY" -c "import numpy, pytest; print('ci_python: python', __import__('sys').version.split()[0], \
'numpy', numpy.__version__, 'pytest', pytest.__version__)"

if [ ! -e "$BUILD_DIR/libseqboat.so" ]; then
    echo "ci_python: $BUILD_DIR/libseqboat.so missing; building"
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)"
fi

SEQBOAT_LIBRARY="$(cd "$BUILD_DIR" && pwd)/libseqboat.so"
export SEQBOAT_LIBRARY
export SEQBOAT_CLI="$(cd "$BUILD_DIR" && pwd)/seqboat"
# the package is imported from the source tree; no install needed
export PYTHONPATH="$(pwd)/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
echo "ci_python: SEQBOAT_LIBRARY=$SEQBOAT_LIBRARY"
exec "$PY" -m pytest -p no:cacheprovider -q bindings/python/tests "$@"
