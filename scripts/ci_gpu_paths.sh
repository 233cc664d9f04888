#!/bin/sh
# ci_gpu_paths.sh - the GPU-class kernels end to end on PoCL's CPU device:
# scripts/gpu_check.sh --cpu --quick (selftest, peak, tune, a short bench) with
# the fixtures, stream and block suites, every GPU-class kernel forced:
# SEQBOAT_LINEAR=lds:64,64,16,4,4 (the local-memory GEMM with the NVIDIA/AMD
# tiles), SEQBOAT_ATTN=lds (attn_window tiles), SEQBOAT_EMA=scan (the
# three-pass scan), SEQBOAT_ROWS=wg (a work-group per row), SEQBOAT_DECODE=split
# (a streamed token's steps over many work-groups). Stream-vs-forward
# equality (test_stream) is checked with these kernels too. Then the same
# switches under Oclgrind's race, API and bounds checks: scripts/ci_oclgrind.sh
# --gpu-paths (selftest, test_stream case small_models, test_block without
# "large", test_fixtures case small); any Oclgrind report fails the step.
# About 1 minute on PoCL, about 9 on Oclgrind (2 busy cores).
#   SEQBOAT_BUILD_DIR   build folder (default build)
set -eu
cd "$(dirname "$0")/.."
BUILD=${SEQBOAT_BUILD_DIR:-build}
sh scripts/icd_setup.sh "$BUILD/icd" >/dev/null
OCL_ICD_VENDORS=$PWD/$BUILD/icd/pocl
SEQBOAT_LINEAR=lds:64,64,16,4,4 SEQBOAT_ATTN=lds SEQBOAT_EMA=scan SEQBOAT_ROWS=wg SEQBOAT_DECODE=split
export OCL_ICD_VENDORS SEQBOAT_LINEAR SEQBOAT_ATTN SEQBOAT_EMA SEQBOAT_ROWS SEQBOAT_DECODE
rc=0
sh scripts/gpu_check.sh --cpu --quick --budget 600 --tests 'test_(fixtures|stream|block)$' "$BUILD/gpu-paths" || rc=1
sh scripts/ci_oclgrind.sh --gpu-paths || rc=1
exit $rc
