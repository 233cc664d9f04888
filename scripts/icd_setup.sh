#!/bin/sh
# icd_setup.sh - folders of OpenCL ICD files, one per implementation, so that a
# process sees exactly the implementations its OCL_ICD_VENDORS folder names
# (the ocl-icd loader reads every *.icd file of that folder instead of
# /etc/OpenCL/vendors).
#
#   sh scripts/icd_setup.sh [OUT]      OUT defaults to build/icd
#
# Writes OUT/pocl, OUT/rusticl, OUT/oclgrind (one .icd file each) and OUT/all
# (all three), for the implementations whose library is installed, and prints
# one line per folder written. Oclgrind's Debian package ships its ICD library
# without a .icd file; it is registered here, never in /etc. rusticl lists its
# devices only with RUSTICL_ENABLE set (e.g. RUSTICL_ENABLE=llvmpipe).
# Exits 1 when none of the three is installed.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-build/icd}

# The first existing file among the arguments, else "".
first_file() {
    for f in "$@"; do
        if [ -f "$f" ]; then echo "$f"; return 0; fi
    done
    echo ""
}
# A library the dynamic linker knows by soname pattern, else "".
ldconfig_lib() {
    ldconfig -p 2>/dev/null | awk -v pat="$1" '$1 ~ pat { print $NF; exit }'
}

ARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
pocl=$(ldconfig_lib '^libpocl\.so')
[ -n "$pocl" ] || pocl=$(first_file /usr/lib/$ARCH/libpocl.so.2 /usr/lib/$ARCH/libpocl.so)
rusticl=$(ldconfig_lib '^libRusticlOpenCL\.so')
[ -n "$rusticl" ] || rusticl=$(first_file /usr/lib/$ARCH/libRusticlOpenCL.so.1)
oclgrind=$(first_file /usr/lib/oclgrind/liboclgrind-rt-icd.so \
    /usr/lib/$ARCH/oclgrind/liboclgrind-rt-icd.so /usr/lib/$ARCH/liboclgrind-rt-icd.so \
    /usr/local/lib/liboclgrind-rt-icd.so)

rm -rf "$OUT"
mkdir -p "$OUT/all"
n=0
for impl in pocl rusticl oclgrind; do
    eval lib=\$$impl
    if [ -z "$lib" ]; then
        echo "icd_setup: $impl: library not found (not installed?)"
        continue
    fi
    mkdir -p "$OUT/$impl"
    echo "$lib" > "$OUT/$impl/$impl.icd"
    echo "$lib" > "$OUT/all/$impl.icd"
    echo "icd_setup: $OUT/$impl -> $lib"
    n=$((n + 1))
done
[ $n -gt 0 ] || { echo "icd_setup: no OpenCL implementation found" >&2; exit 1; }
echo "icd_setup: $OUT/all ($n implementation(s))"
