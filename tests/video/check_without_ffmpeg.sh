#!/bin/sh
# check_without_ffmpeg.sh -- the arnet program of a build configured with
# -Dvideo=disabled (as on a machine without FFmpeg's development files):
# it builds, and its video commands say what to install (check_video.sh's
# first part).  The second build folder is kept between runs, so only the
# first run compiles the library.  Writes TAP.
# usage: check_without_ffmpeg.sh MESON SOURCE_ROOT BUILD_DIR
set -u
meson=$1 src=$2 b=$3
if [ ! -f "$b/build.ninja" ]; then
    if ! out=$("$meson" setup "$b" "$src" -Dvideo=disabled -Dtests=disabled --buildtype=release 2>&1); then
        echo "not ok 1 - configure with -Dvideo=disabled"; printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
        echo "1..1"; exit 1
    fi
fi
if ! out=$(ninja -C "$b" tools/arnet 2>&1); then
    echo "not ok 1 - build the arnet program with -Dvideo=disabled"; printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
    echo "1..1"; exit 1
fi
if nm -D "$b/tools/arnet" 2>/dev/null | grep -q avformat_open_input; then
    echo "not ok 1 - the -Dvideo=disabled program does not link FFmpeg"; echo "1..1"; exit 1
fi
exec sh "$src/tests/video/check_video.sh" "$b/tools/arnet" "$src"
