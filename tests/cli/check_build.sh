#!/bin/sh
# check_build.sh -- the source tree configures and builds the ways a Debian
# user and packager build it, in fresh build folders.  Writes TAP.
# usage: check_build.sh SOURCE_ROOT without-check|clang-sanitize
#   without-check    `meson setup` succeeds when Check is not installed (the
#                    C unit tests are switched off with a message) and
#                    -Dtests=enabled then fails naming Check
#   clang-sanitize   CC=clang with -Db_sanitize=address,undefined links the
#                    library and a program using it, which then runs
set -u
src=$1 what=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -20 | sed 's/^/# /'; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The meson test harness points LD_LIBRARY_PATH at the build tree: a build
# made here must not find that library by accident.
unset LD_LIBRARY_PATH

case $what in
without-check)
    # A pkg-config search path holding only zlib: Check is "not installed"
    # (Debian's check ships no CMake package, meson's other way to find it).
    mkdir "$tmp/pc"
    zlib_pc=$(pkg-config --variable=pcfiledir zlib 2>/dev/null)/zlib.pc
    if [ ! -f "$zlib_pc" ]; then
        skip "meson setup without Check" "no zlib.pc to copy"
        echo "1..$n"; exit 0
    fi
    cp "$zlib_pc" "$tmp/pc/"
    if PKG_CONFIG_LIBDIR=$tmp/pc pkg-config --exists check; then
        notok "Check hidden from pkg-config" "still found"
    fi
    if out=$(PKG_CONFIG_LIBDIR=$tmp/pc meson setup "$tmp/auto" "$src" 2>&1); then
        ok "meson setup succeeds without Check (tests=auto)"
    else
        notok "meson setup succeeds without Check (tests=auto)" "$out"
    fi
    if printf '%s\n' "$out" | grep -q "Check not found: the C unit tests are off"; then
        ok "setup says the C unit tests are off and why"
    else
        notok "setup says the C unit tests are off and why" "$out"
    fi
    if [ -f "$tmp/auto/build.ninja" ] &&
        tests=$(meson introspect --tests "$tmp/auto" 2>&1) &&
        ! printf '%s' "$tests" | grep -q '"name": "trainer"' &&
        printf '%s' "$tests" | grep -q '"name": "cli"'; then
        ok "without Check the Check tests are left out, the others stay"
    else
        notok "without Check the Check tests are left out, the others stay" "$tests"
    fi
    if out=$(PKG_CONFIG_LIBDIR=$tmp/pc meson setup "$tmp/enabled" "$src" -Dtests=enabled 2>&1); then
        notok "-Dtests=enabled without Check fails" "setup succeeded"
    elif printf '%s\n' "$out" | grep -qi "dependency \"*check\"* not found"; then
        ok "-Dtests=enabled without Check fails naming Check"
    else
        notok "-Dtests=enabled without Check fails naming Check" "$out"
    fi
    ;;
clang-sanitize)
    if ! command -v clang >/dev/null 2>&1; then
        skip "clang with address and undefined-behaviour sanitizers" "clang is not installed"
        echo "1..$n"; exit 0
    fi
    if out=$(CC=clang meson setup "$tmp/b" "$src" --buildtype=debug -Dtests=disabled --werror \
            -Db_sanitize=address,undefined 2>&1); then
        ok "CC=clang meson setup -Db_sanitize=address,undefined"
    else
        notok "CC=clang meson setup -Db_sanitize=address,undefined" "$out"
        echo "1..$n"; exit 1
    fi
    # Only what the link question needs: the library and the smallest
    # program that uses it (examples/minimal.c).
    if out=$(ninja -C "$tmp/b" examples/minimal 2>&1); then
        ok "libarnet.so and a program using it build warning-free and link with clang's sanitizers"
    else
        notok "libarnet.so and a program using it link with clang's sanitizers" "$out"
    fi
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    if out=$("$tmp/b/examples/minimal" --make-model "$tmp/m.arnet" 4 2>&1) &&
        out=$("$tmp/b/examples/minimal" "$tmp/m.arnet" "$src/tests/fixtures/npy/2d_v1_f4_le_C.npy" 2>&1) &&
        [ "$(printf '%s\n' "$out" | grep -c '^clip ')" -eq 3 ]; then
        ok "the sanitized library makes a model and scores 3 clips, no sanitizer report"
    else
        notok "the sanitized library makes a model and scores 3 clips, no sanitizer report" "$out"
    fi
    ;;
*)
    echo "usage: check_build.sh SOURCE_ROOT without-check|clang-sanitize" >&2
    exit 2
    ;;
esac
echo "1..$n"
[ "$failed" -eq 0 ]
