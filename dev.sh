#!/bin/sh
# dev.sh -- the two quick-start commands, idempotent and fast when nothing changed:
#   ./dev.sh demo   install what is missing, build, run `arnet demo`
#   ./dev.sh test   install what is missing, build, run every test; then
#                   (unless meson test options are given, or ARNET_SANITIZE=0)
#                   the C tests and the fuzz targets (20 s each) under
#                   AddressSanitizer + UndefinedBehaviorSanitizer and the
#                   threaded tests under ThreadSanitizer (docs/testing.md)
#   ./dev.sh fuzz [SECONDS] [TARGET]   run the fuzz targets (or one) longer
#   ./dev.sh coverage [MESON TEST ARGS]  line coverage of libarnet/ per part
#                   and of tools/ (gcovr) after the tests, in build-coverage
# As root, missing Debian packages are installed with apt-get; as another
# user the script lists them and stops.
set -eu

cd "$(dirname "$0")"
BUILD=${ARNET_BUILD_DIR:-build}

BUILD_PKGS="gcc g++ meson ninja-build pkg-config libblis-dev zlib1g-dev check"
# The tests' independent references (numpy, scikit-learn, PyTorch, Pillow,
# OpenCV for TV-L1 optical flow),
# FFmpeg's libraries and program for the video tests, and OpenCV's sample
# video (vtest.avi) for the end-to-end one.  The Python package's wheel
# (meson-python, a virtual environment, pip, git for its sdist) and its
# property test (Hypothesis).  libmosquitto for arnet watch --mqtt, and for
# the live test (tests/video/check_live.sh) a real broker and client
# (mosquitto, mosquitto-clients) and an RTSP server (gst-rtsp-server through
# python3-gi, with GStreamer's Matroska, RTP and H.264 parser plugins).
TEST_PKGS="python3-numpy python3-sklearn python3-torch python3-pil binutils
 libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg opencv-doc
 python3-mesonpy python3-venv python3-pip git python3-hypothesis python3-opencv
 libmosquitto-dev mosquitto mosquitto-clients python3-gi python3-gst-1.0
 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
 gstreamer1.0-plugins-bad"
# Line coverage (./dev.sh coverage).
COV_PKGS="gcovr"
COV_BUILD=${ARNET_COV_BUILD_DIR:-build-coverage}
# clang with its sanitizer runtimes and libFuzzer.
SAN_PKGS="clang libclang-rt-14-dev"
ASAN_BUILD=${ARNET_ASAN_BUILD_DIR:-build-asan}
TSAN_BUILD=${ARNET_TSAN_BUILD_DIR:-build-tsan}

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

# ASan + UBSan (every UBSan error fatal), clang, with the fuzz targets.
build_asan() {
    if [ ! -f "$ASAN_BUILD/build.ninja" ]; then
        CC=clang meson setup "$ASAN_BUILD" --buildtype=debugoptimized -Dfuzz=true -Db_lundef=false \
            -Db_sanitize=address,undefined \
            -Dc_args=-fno-sanitize-recover=all >&2
    fi
    ninja -C "$ASAN_BUILD" >&2
}

# Not run under ASan (each runs in the normal build): abi (checks the
# release library's exported symbols; ASan adds its own), torch-reference
# and python* (load libarnet.so into an uninstrumented Python, where the
# ASan runtime cannot come first), bench-* (timings, and long under ASan),
# flow-reference and two-stream-reference* (Python with cv2 and torch; the
# two-stream state itself runs here in test_two_stream), install, build-*,
# synth-tables, self-contained (packaging and sources,
# not the library's memory), i3d-reference (Python again), video* and
# libarnet-no-ffmpeg (the arnet program on FFmpeg's uninstrumented decoders,
# minutes of whole-network passes; the extractor's own C tests do run here),
# crash (preloads a shim, which the ASan runtime refuses to follow).
ASAN_SKIP='abi|torch-reference|i3d-reference|flow-reference|two-stream-reference.*|python.*|bench-.*|install|build-.*|synth-tables|self-contained|video.*|libarnet-no-ffmpeg|crash'

# ThreadSanitizer: only the threaded tests are built and run (their options
# and suppressions, tests/tsan.supp, are in tests/test_threads.c).
build_tsan() {
    if [ ! -f "$TSAN_BUILD/build.ninja" ]; then
        CC=clang meson setup "$TSAN_BUILD" --buildtype=debugoptimized -Db_lundef=false \
            -Db_sanitize=thread >&2
    fi
    ninja -C "$TSAN_BUILD" tests/test_threads >&2
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

case "${1:-}" in
demo)
    shift
    ensure_pkgs $BUILD_PKGS
    build
    exec "$BUILD/tools/arnet" demo "$@"
    ;;
test)
    shift
    sanitize=${ARNET_SANITIZE:-$([ $# -eq 0 ] && echo 1 || echo 0)}
    ensure_pkgs $BUILD_PKGS $TEST_PKGS
    if [ "$sanitize" = 1 ] && [ "$(id -u)" -ne 0 ] && [ -n "$(missing_pkgs $SAN_PKGS)" ]; then
        echo "dev.sh: no sanitizer and fuzz runs: missing $(missing_pkgs $SAN_PKGS)" \
             "(sudo apt-get install them; ARNET_SANITIZE=0 skips them quietly)" >&2
        sanitize=0
    fi
    [ "$sanitize" = 1 ] && ensure_pkgs $SAN_PKGS
    # Check is required here: a test command that silently skipped the C
    # tests would pass for the wrong reason.
    build -Dtests=enabled
    status=0
    logs="$BUILD/meson-logs/testlog.json"
    meson test -C "$BUILD" --print-errorlogs "$@" || status=$?
    if [ "$sanitize" = 1 ]; then
        build_asan
        # shellcheck disable=SC2046
        meson test -C "$ASAN_BUILD" --no-rebuild --print-errorlogs $(meson test -C "$ASAN_BUILD" \
            --list --no-rebuild 2>/dev/null | sed 's|^.* / ||' | grep -vxE "$ASAN_SKIP") \
            || status=$?
        build_tsan
        meson test -C "$TSAN_BUILD" --no-rebuild --print-errorlogs threads || status=$?
        logs="$logs $ASAN_BUILD/meson-logs/testlog.json $TSAN_BUILD/meson-logs/testlog.json"
    fi
    # shellcheck disable=SC2086
    python3 tests/summary.py $logs || status=1
    exit $status
    ;;
coverage)
    shift
    ensure_pkgs $BUILD_PKGS $TEST_PKGS $COV_PKGS
    if [ ! -f "$COV_BUILD/build.ninja" ]; then
        meson setup "$COV_BUILD" --buildtype=debugoptimized -Db_coverage=true -Dtests=enabled >&2
    fi
    ninja -C "$COV_BUILD" >&2
    find "$COV_BUILD" -name '*.gcda' -delete
    status=0
    meson test -C "$COV_BUILD" --no-rebuild "$@" >&2 || status=$?
    # One line per part of the library (README "Layout") and one for the
    # arnet program: lines run by the tests / lines of code.
    for part in core store data detector video; do
        printf '%-9s ' "$part"
        gcovr -r . --object-directory "$COV_BUILD" --filter "libarnet/$part/" \
            --print-summary 2>/dev/null | sed -n 's/^lines: //p'
    done
    printf '%-9s ' "tools"
    gcovr -r . --object-directory "$COV_BUILD" --filter "tools/" \
        --print-summary 2>/dev/null | sed -n 's/^lines: //p'
    exit $status
    ;;
fuzz)
    shift
    ensure_pkgs $BUILD_PKGS $SAN_PKGS
    build_asan
    status=0
    if [ -n "${2:-}" ]; then set -- "${1:-600}" "fuzz-$2"; else set -- "${1:-600}" --suite fuzz; fi
    ARNET_FUZZ_SECONDS=$1 meson test -C "$ASAN_BUILD" --print-errorlogs \
        --timeout-multiplier 0 "$2" ${3:+"$3"} || status=$?
    python3 tests/summary.py "$ASAN_BUILD/meson-logs/testlog.json" || status=1
    exit $status
    ;;
*)
    echo "usage: ./dev.sh demo [arnet demo options] | ./dev.sh test [meson test options]" \
         "| ./dev.sh fuzz [SECONDS] [TARGET]" >&2
    exit 2
    ;;
esac
