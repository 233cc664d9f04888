#!/bin/sh
# The main job: install what is missing, build, list devices and run the demo on
# the default device (the shipped byte-level model generating Python).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
sh scripts/build.sh
./build/seqboat devices
if ./build/seqboat help | grep -q generate && [ -f models/tiny-pystdlib.safetensors ] && ./build/seqboat generate --help >/dev/null 2>&1; then
    ./build/seqboat generate --prompt "def parse_args(" --max-tokens 256 --temperature 0.6 --seed 7 --stats
else
    ./build/seqboat selftest
fi
