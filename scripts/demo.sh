#!/bin/sh
# The main job: install what is missing, build, list devices and run the demo on
# the default device: the shipped byte-level model (models/tiny-pystdlib) writes
# Python, streamed token by token, with prefill/decode speed and per-layer
# activation shares on stderr.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
sh scripts/build.sh
./build/seqboat devices
./build/seqboat generate --prompt '"""Utilities for parsing command-line arguments.' \
    --max-tokens 256 --temperature 1.0 --top-p 0.95 --seed 2 --stats
