#!/bin/sh
# gpu_deps.sh - the Debian packages the build needs, downloaded with apt-get
# (where a package registry is reachable) and unpacked into DIR/root, for a
# machine that has a compiler and CMake but no registry and none of these
# packages: scripts/gpu_check.sh builds against DIR/root (--deps DIR; it takes
# .gpu-deps by itself when that folder exists and the system lacks a package).
#
#   sh scripts/gpu_deps.sh [DIR]      DIR defaults to .gpu-deps (ignored by git)
#
# Packages (Debian 12 amd64; about 6 MB of .deb files, 25 MB unpacked): the
# OpenCL ICD loader and headers (ocl-icd-libopencl1, ocl-icd-opencl-dev,
# opencl-c-headers), CLBlast (libclblast1, libclblast-dev), cJSON (libcjson1,
# libcjson-dev), OpenSSL's libcrypto (libssl3, libssl-dev), Check and its
# subunit (check, libsubunit0, libsubunit-dev) and pkg-config (pkgconf,
# pkgconf-bin, libpkgconf3). Their libraries need only glibc, libstdc++ and
# libgcc, which any newer distribution has. The vendor's OpenCL driver
# (libnvidia-opencl.so.1 and so on) comes with the GPU's driver, not from here.
set -eu
cd "$(dirname "$0")/.."
DIR=${1:-.gpu-deps}
PKGS="ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers libclblast1 libclblast-dev \
libcjson1 libcjson-dev libssl3 libssl-dev check libsubunit0 libsubunit-dev pkgconf pkgconf-bin libpkgconf3"
rm -rf "$DIR"
mkdir -p "$DIR/debs" "$DIR/root"
# shellcheck disable=SC2086
(cd "$DIR/debs" && apt-get download $PKGS)
for f in "$DIR"/debs/*.deb; do dpkg -x "$f" "$DIR/root"; done
# what the build does not read: documentation, manuals, static OpenSSL and CLBlast
rm -rf "$DIR/root/usr/share/doc" "$DIR/root/usr/share/man" "$DIR/root/usr/share/lintian"
rm -f "$DIR"/root/usr/lib/*/libcrypto.a "$DIR"/root/usr/lib/*/libssl.a "$DIR"/root/usr/lib/*/libclblast.a
ls "$DIR/debs" >"$DIR/packages.txt"
echo "gpu_deps: $(wc -l <"$DIR/packages.txt") packages unpacked into $DIR/root ($(du -sh "$DIR/root" | cut -f1)); .deb files in $DIR/debs"
