#!/bin/sh
# gen_video_corpus.sh OUT -- seeds of the video fuzz target (fuzz_video.c):
# tiny videos (2 to 4 frames, 16 to 48 pixels wide, a few KB each) in the
# containers, codecs and pixel layouts arnet extract meets: H.264 4:2:0 in
# MP4 (with a rotation), 4:2:2 10-bit in Matroska, MPEG-4 part 2 in AVI,
# MJPEG 4:2:2 in AVI, VP9 4:4:4 in WebM, FFV1 in Matroska, MPEG-2 in a
# transport stream, Y4M, GIF.  Made once with Debian's ffmpeg and committed;
# rerun only to change them.
set -eu
out=$1
mkdir -p "$out"
gen() { name=$1 size=$2 frames=$3; shift 3
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=$size:rate=5" \
        -frames:v "$frames" -map_metadata -1 -fflags +bitexact -flags:v +bitexact "$@" "$out/$name"; }
gen h264-420.mp4 26x18 3 -c:v libx264 -pix_fmt yuv420p -preset ultrafast -tune zerolatency -x264-params bframes=0
gen tall.mp4 16x32 2 -c:v libx264 -pix_fmt yuv420p -preset ultrafast
ffmpeg -hide_banner -loglevel error -y -i "$out/tall.mp4" -c copy -metadata:s:v:0 rotate=90 \
    "$out/h264-420-rot90.mp4"
rm "$out/tall.mp4"
gen h264-422-10bit.mkv 24x16 2 -c:v libx264 -pix_fmt yuv422p10le -preset ultrafast
gen mpeg4.avi 32x24 3 -c:v mpeg4 -q:v 10
gen mjpeg-422.avi 17x9 2 -c:v mjpeg -pix_fmt yuvj422p -q:v 20
gen vp9-444.webm 20x20 2 -c:v libvpx-vp9 -pix_fmt yuv444p -deadline realtime -b:v 20k
gen ffv1.mkv 12x10 2 -c:v ffv1
gen mpeg2.ts 32x16 3 -c:v mpeg2video -q:v 15
gen raw.y4m 8x6 2 -pix_fmt yuv420p
gen anim.gif 12x8 2 -c:v gif
ls -l "$out"
