#!/bin/sh
# dev.sh -- the two quick-start commands, idempotent and fast when nothing changed:
#   ./dev.sh demo   install what is missing, build, run `arnet demo`
#   ./dev.sh test   install what is missing, build, run every test
# As root, missing Debian packages are installed with apt-get; as another
# user the script lists them and stops.
set -eu

cd "$(dirname "$0")"
BUILD=${ARNET_BUILD_DIR:-build}

BUILD_PKGS="gcc g++ meson ninja-build pkg-config libblis-dev zlib1g-dev check"
TEST_PKGS="python3-numpy python3-sklearn python3-torch binutils"

missing_pkgs() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$p"
    done
}

ensure_pkgs() {
    missing=$(missing_pkgs "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "dev.sh: missing Debian packages: $missing" >&2
        echo "dev.sh: install them with: sudo apt-get install $missing" >&2
        exit 1
    fi
    echo "dev.sh: installing $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
}

# build [-Dtests=VALUE]: set up once (or change the tests option of an
# existing set-up only when it differs: reconfiguring costs seconds), then
# build what changed.
build() {
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" --buildtype=release "$@" >&2
    elif [ $# -gt 0 ] && ! meson introspect --buildoptions "$BUILD" |
            python3 -c 'import json, sys; o = {x["name"]: x["value"] for x in json.load(sys.stdin)}; sys.exit(o.get("tests") != sys.argv[1])' "${1#-Dtests=}"; then
        meson configure "$BUILD" "$@" >&2
    fi
    ninja -C "$BUILD" >&2
}

case "${1:-}" in
demo)
    shift
    ensure_pkgs $BUILD_PKGS
    build
    exec "$BUILD/tools/arnet" demo "$@"
    ;;
test)
    shift
    ensure_pkgs $BUILD_PKGS $TEST_PKGS
    # Check is required here: a test command that silently skipped the C
    # tests would pass for the wrong reason.
    build -Dtests=enabled
    status=0
    meson test -C "$BUILD" --print-errorlogs "$@" || status=$?
    python3 tests/summary.py "$BUILD/meson-logs/testlog.json" || status=1
    exit $status
    ;;
*)
    echo "usage: ./dev.sh demo [arnet demo options] | ./dev.sh test [meson test options]" >&2
    exit 2
    ;;
esac
