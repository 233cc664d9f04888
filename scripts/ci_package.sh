#!/bin/sh
# Packaging CI: install into a temporary prefix, check what was installed,
# build each example once with pkg-config and once with find_package(seqboat),
# run them against the installed library, and check that a C file that only
# includes seqboat.h compiles with -std=c99 -Wall -Wextra -pedantic -Werror and
# links both ways (shared and static). Exits non-zero on the first failure.
#
# Environment: SEQBOAT_BUILD_DIR (default: build; configured Release when new),
#              KEEP=1 keeps the temporary folder, CC (default: cc).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${SEQBOAT_BUILD_DIR:-build}
CC=${CC:-cc}
STRICT="-std=c99 -Wall -Wextra -pedantic -Werror"
NPROC=$(nproc 2>/dev/null || echo 2)

step() { printf '\n== %s\n' "$*"; }
run() { printf '+ %s\n' "$*"; "$@"; }
fail() { printf '\nci_package: FAILED: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/seqboat-package.XXXXXX")
finish() {
    rc=$?
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "ci_package: work folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    [ $rc -eq 0 ] && echo "ci_package: all packaging checks passed"
    exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
step "configure and build the library and program in $BUILD"
if [ -f "$BUILD/CMakeCache.txt" ]; then
    run cmake -S . -B "$BUILD" >/dev/null
else
    run cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
run cmake --build "$BUILD" -j"$NPROC" --target seqboat seqboat_static seqboat_cli

PREFIX=$WORK/prefix
step "install into $PREFIX"
run cmake --install "$BUILD" --prefix "$PREFIX"
LIBDIR=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
case "$LIBDIR" in
    "") fail "CMAKE_INSTALL_LIBDIR not found in $BUILD/CMakeCache.txt" ;;
    /*) fail "CMAKE_INSTALL_LIBDIR is absolute ($LIBDIR): cannot install into a temporary prefix" ;;
esac
LIB=$PREFIX/$LIBDIR
echo "libdir: $LIB"

step "installed files"
for f in bin/seqboat include/seqboat.h "$LIBDIR/libseqboat.so" "$LIBDIR/libseqboat.a" \
    "$LIBDIR/pkgconfig/seqboat.pc" "$LIBDIR/cmake/seqboat/seqboatConfig.cmake" \
    "$LIBDIR/cmake/seqboat/seqboatConfigVersion.cmake" "$LIBDIR/cmake/seqboat/seqboatTargets.cmake" \
    share/seqboat/tiny-pystdlib.safetensors share/doc/seqboat/API.md; do
    [ -e "$PREFIX/$f" ] || fail "missing $PREFIX/$f"
    echo "ok  $f"
done
SONAME=$(readelf -d "$LIB/libseqboat.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ -z "$SONAME" ] || [ ! -e "$LIB/$SONAME" ]; then fail "soname link '$SONAME' missing"; fi
echo "ok  $LIBDIR/$SONAME (soname)"
if readelf -d "$LIB/libseqboat.so" "$PREFIX/bin/seqboat" | grep -E 'RPATH|RUNPATH'; then
    fail "installed binaries carry an RPATH/RUNPATH"
fi
echo "ok  no RPATH/RUNPATH in the installed library and program"
# kernels are embedded: the library names nothing in the source or build tree
objcopy --strip-debug "$LIB/libseqboat.so" "$WORK/stripped.so"
if strings -a "$WORK/stripped.so" | grep -F "$ROOT"; then
    fail "libseqboat.so refers to the source/build tree at run time"
fi
echo "ok  libseqboat.so holds no path of the source or build tree"

step "exported symbols: only the public API"
echo "+ nm -D --defined-only $LIB/libseqboat.so | grep -v ' sb_'"
OTHER=$(nm -D --defined-only "$LIB/libseqboat.so" | grep -v ' sb_' |
        grep -v -E ' (_init|_fini|_edata|_end|__bss_start)$' || true)
[ -z "$OTHER" ] || fail "symbols outside the sb_ API are exported:
$OTHER"
echo "(empty)"
run cmake -DNM=nm -DLIB="$LIB/libseqboat.so" -DHEADER="$PREFIX/include/seqboat.h" \
    -P cmake/check_symbols.cmake

# ---------------------------------------------------------------------------
step "pkg-config"
PKG_CONFIG_PATH=$LIB/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
echo "PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
run pkg-config --exists --print-errors seqboat
PC_VERSION=$(pkg-config --modversion seqboat)
H_VERSION=$(sed -n 's/^#define SB_VERSION_STRING "\(.*\)"/\1/p' "$PREFIX/include/seqboat.h")
echo "pkg-config --modversion seqboat: $PC_VERSION, seqboat.h: $H_VERSION"
[ "$PC_VERSION" = "$H_VERSION" ] || fail "version mismatch"
PC_CFLAGS=$(pkg-config --cflags seqboat)
PC_LIBS=$(pkg-config --libs seqboat)
PC_STATIC=$(pkg-config --static --libs seqboat |
            sed 's/-lseqboat\( \|$\)/-Wl,-Bstatic -lseqboat -Wl,-Bdynamic /')
echo "cflags: $PC_CFLAGS"
echo "libs: $PC_LIBS"
echo "static libs: $PC_STATIC"
DEMO=$(pkg-config --variable=demo_model seqboat)
[ -f "$DEMO" ] || fail "demo_model variable points to a missing file: $DEMO"

# ---------------------------------------------------------------------------
step "a C file that only includes seqboat.h"
mkdir -p "$WORK/header"
cat > "$WORK/header/header_only.c" <<'EOF'
#include <seqboat.h>

/* Checks the header against the library it links: version and one call. */
int main(void) {
    const char *a = sb_version_string(), *b = SB_VERSION_STRING;
    int n = -1;
    while (*a && *a == *b) a++, b++;
    if (*a != *b || sb_version_number() != SB_VERSION_NUMBER) return 1;
    if (sb_status_string(SB_ERR_ARG) == 0) return 2;
    if (sb_devices(0, 0, &n) != SB_OK || n < 0) return 3;
    return 0;
}
EOF
# shellcheck disable=SC2086
run $CC $STRICT $PC_CFLAGS "$WORK/header/header_only.c" -o "$WORK/header/pc_shared" $PC_LIBS
# shellcheck disable=SC2086
run $CC $STRICT $PC_CFLAGS "$WORK/header/header_only.c" -o "$WORK/header/pc_static" $PC_STATIC
if readelf -d "$WORK/header/pc_static" | grep -q 'libseqboat'; then
    fail "the static link still needs libseqboat.so"
fi
if command -v c++ >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    run c++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only -x c++ $PC_CFLAGS \
        "$WORK/header/header_only.c"
fi
cat > "$WORK/header/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(header_only LANGUAGES C)
find_package(seqboat 0.3 REQUIRED COMPONENTS static)
message(STATUS "seqboat ${seqboat_VERSION} from ${seqboat_DIR}")
foreach(kind shared static)
  add_executable(cmake_${kind} header_only.c)
  set_target_properties(cmake_${kind} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
                        C_EXTENSIONS OFF)
  target_compile_options(cmake_${kind} PRIVATE -Wall -Wextra -pedantic -Werror)
endforeach()
target_link_libraries(cmake_shared PRIVATE seqboat::seqboat)
target_link_libraries(cmake_static PRIVATE seqboat::seqboat_static)
EOF
run cmake -S "$WORK/header" -B "$WORK/header/build" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_BUILD_TYPE=Release
run cmake --build "$WORK/header/build"
if readelf -d "$WORK/header/build/cmake_static" | grep -q 'libseqboat'; then
    fail "seqboat::seqboat_static still needs libseqboat.so"
fi
LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
# a fresh program cache, and no kernel folder: the kernels come from the library
SEQBOAT_CACHE_DIR=$WORK/cache
export SEQBOAT_CACHE_DIR
unset SEQBOAT_KERNEL_DIR || true
echo "SEQBOAT_CACHE_DIR=$SEQBOAT_CACHE_DIR (SEQBOAT_KERNEL_DIR unset)"
for exe in pc_shared pc_static build/cmake_shared build/cmake_static; do
    run "$WORK/header/$exe" || fail "$exe exited with $?"
done
echo "+ ldd $WORK/header/pc_shared | grep libseqboat"
ldd "$WORK/header/pc_shared" | grep libseqboat
ldd "$WORK/header/pc_shared" | grep -q "libseqboat.*=> $LIB/" || fail "pc_shared does not load the installed library"

# ---------------------------------------------------------------------------
step "docs/API.md: every C block compiles alone; together they run"
mkdir -p "$WORK/doc"
awk -v dir="$WORK/doc" '/^```c$/ { n++; f = sprintf("%s/snippet%d.c", dir, n); inb = 1; next }
     /^```$/ { inb = 0; next }
     inb { print > f }' docs/API.md
[ -f "$WORK/doc/snippet1.c" ] || fail "no C blocks found in docs/API.md"
for f in "$WORK"/doc/snippet*.c; do
    # shellcheck disable=SC2086
    run $CC $STRICT $PC_CFLAGS -c "$f" -o "${f%.c}.o"
done
cat "$WORK"/doc/snippet*.c > "$WORK/doc/all.c"
cat >> "$WORK/doc/all.c" <<'EOF'
/* driver: the functions defined by the blocks of docs/API.md */
int main(int argc, char **argv) {
    sb_model *m, *c;
    if (argc != 5 || check_version() != 0) return 1;
    if (!(m = load_model(argv[1]))) return 1;
    if (next_bytes(m) != 0 || reserve(m, 2, 256) != 0 || continue_text(m, "import ", 24) != 0)
        return 1;
    sb_model_free(m);
    if (!(c = load_on_biggest(argv[2]))) return 1;
    sb_model_free(c);
    return run_file(argv[2], argv[3], argv[4]);
}
EOF
# shellcheck disable=SC2086
run $CC $STRICT $PC_CFLAGS "$WORK/doc/all.c" -o "$WORK/doc/all" $PC_LIBS
run "$WORK/doc/all" "$DEMO" "$ROOT/tests/data/bidir_softmax_batchnorm_classify.model.safetensors" \
    "$ROOT/tests/data/bidir_softmax_batchnorm_classify.io.safetensors" "$WORK/doc/out.safetensors" ||
    fail "the docs/API.md program exited with $?"
[ -s "$WORK/doc/out.safetensors" ] || fail "sb_model_run_file wrote nothing"

# ---------------------------------------------------------------------------
step "examples: build with pkg-config (make) and with find_package(seqboat) (cmake)"
for ex in classify_file stream_generate; do
    mkdir -p "$WORK/pc"
    run make -s -f "$ROOT/examples/$ex/Makefile" OUT="$WORK/pc" CC="$CC" CFLAGS="-O2 $STRICT"
    run cmake -S "examples/$ex" -B "$WORK/cm/$ex" -DCMAKE_PREFIX_PATH="$PREFIX" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-Werror >/dev/null
    run cmake --build "$WORK/cm/$ex"
done
run cmake -S examples/classify_file -B "$WORK/cm/classify_file_static" -DSEQBOAT_STATIC=ON \
    -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-Werror >/dev/null
run cmake --build "$WORK/cm/classify_file_static"

step "run the examples against the installed library (from $WORK)"
MODEL=$ROOT/tests/data/bidir_softmax_batchnorm_classify.model.safetensors
INPUT=$ROOT/tests/data/bidir_softmax_batchnorm_classify.io.safetensors
cd "$WORK"
for exe in pc/classify_file cm/classify_file/classify_file cm/classify_file_static/classify_file; do
    run "./$exe" "$MODEL" "$INPUT" || fail "$exe exited with $?"
done
PROMPT='def parse_args('
N=48
echo "+ $PREFIX/bin/seqboat generate --model $DEMO --prompt '$PROMPT' --max-tokens $N --temperature 0"
"$PREFIX/bin/seqboat" generate --model "$DEMO" --prompt "$PROMPT" --max-tokens $N \
    --temperature 0 > "$WORK/cli.txt" || fail "seqboat generate exited with $?"
cat "$WORK/cli.txt"
for exe in pc/stream_generate cm/stream_generate/stream_generate; do
    echo "+ ./$exe -n $N '$PROMPT'"
    "./$exe" -n $N "$PROMPT" > "$WORK/out.txt" || fail "$exe exited with $?"
    cat "$WORK/out.txt"
    cmp "$WORK/out.txt" "$WORK/cli.txt" || fail "$exe output differs from seqboat generate --temperature 0"
    echo "ok  same bytes as seqboat generate --temperature 0"
done
cd "$ROOT"
