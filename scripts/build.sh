#!/bin/sh
# Configure and build into ./build (Release). Used by demo.sh and test.sh.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
