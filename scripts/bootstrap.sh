#!/bin/sh
# Installs, with apt-get, the Debian packages seqboat-cl needs that are missing.
# Idempotent: installs nothing when everything is present. Run as root (or with sudo).
# Arguments name further packages a step needs (the CI scripts: clang, valgrind).
# libclblast-dev is for the default build; one configured with -DSEQBOAT_CLBLAST=OFF
# (scripts/ci_noclblast.sh) needs neither its header nor its library.
set -eu
PKGS="build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers libclblast-dev check \
pocl-opencl-icd libcjson-dev libssl-dev python3 $*"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "bootstrap: all packages present:$(printf ' %s' $PKGS)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "bootstrap: installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
echo "bootstrap: done"
