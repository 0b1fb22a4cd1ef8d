#!/bin/sh
# check_video.sh -- video in, features and alarms out, end to end on real
# files: small videos made here with the ffmpeg program (h264 in mp4, vp9 in
# mkv, mjpeg in avi, mpeg4 in mkv; odd sizes, frame counts that are not a
# multiple of 16, rotation metadata, variable frame rate, a corrupt file, a
# file without video), a random-weight I3D made by tests/reference/i3d_torch.py
# and converted by `arnet import i3d`.  Checks clip counts, that decoded
# features equal the same frames given as .npy (decoded by the ffmpeg
# program), the errors, resume, sharding, interruption, `arnet watch` on
# files and on raw frames from standard input, and OpenCV's vtest.avi when
# Debian's opencv-doc is installed.  Writes TAP.
# usage: check_video.sh ARNET_EXE SOURCE_ROOT [VMS_FRAMES_EXE [main|vtest]]
# (main: everything but vtest.avi; vtest: only vtest.avi; default both)
set -u
arnet=$1 src=$2 vms=${3:-} part=${4:-all}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/# /'; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check NAME COMMAND...: passes when COMMAND succeeds
    name=$1; shift
    if out=$("$@" 2>&1); then ok "$name"; else notok "$name" "$out"; fi
}
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

# --- without FFmpeg in this build: the commands say what to install ---------
if ! "$arnet" extract --help | grep -q "FFmpeg"; then notok "extract --help mentions FFmpeg"; else ok "extract --help mentions FFmpeg"; fi
printf 'x' > "$tmp/v.mp4"
"$arnet" extract --extractor "$tmp/none.arnet" --out "$tmp/o" "$tmp/v.mp4" > /dev/null 2> "$tmp/err"
rc=$?
if grep -q "built without video decoding" "$tmp/err"; then
    if [ $rc -eq 1 ] && grep -q "libavformat-dev" "$tmp/err"; then
        ok "a build without FFmpeg names what to install (extract)"
    else
        notok "a build without FFmpeg names what to install (extract)" "$(cat "$tmp/err")"
    fi
    "$arnet" watch --extractor "$tmp/none.arnet" --model "$tmp/none" "$tmp/v.mp4" > /dev/null 2> "$tmp/err"
    if [ $? -eq 1 ] && grep -q "libavformat-dev" "$tmp/err"; then ok "... and watch"; else notok "... and watch" "$(cat "$tmp/err")"; fi
    finish
fi

if ! command -v ffmpeg > /dev/null; then
    echo "1..0 # SKIP the ffmpeg program is not installed (apt-get install ffmpeg)"
    exit 0
fi
if ! "$py" -c 'import numpy, torch' 2> /dev/null; then
    echo "1..0 # SKIP /usr/bin/python3 lacks numpy or torch (python3-torch) for the I3D weights"
    exit 0
fi

# --- an extractor file: random I3D weights, converted in C ------------------
x=$tmp/i3d.arnet
if ! out=$("$py" "$src/tests/reference/i3d_torch.py" weights --out "$tmp/w.pt" --seed 5 2>&1 &&
           "$arnet" import i3d "$tmp/w.pt" --out "$x" 2>&1); then
    notok "random I3D weights converted to an extractor file" "$out"
    finish
fi
ok "random I3D weights converted to an extractor file"
rm -f "$tmp/w.pt"

# --- a 1024-feature model for watch and score -------------------------------
# A 1024-feature model (a few steps on synthetic features are enough).
m=$tmp/m.arnet
if ! out=$("$arnet" synth --out "$tmp/syn" --scale 0.05 --feature-dim 1024 --seed 1 2>&1 &&
           "$arnet" train --train "$tmp/syn/train.txt" --out "$m" --iterations 3 --seed 1 \
               --batch-normal 4 --batch-anomalous 4 2>&1); then
    notok "a 1024-feature model for watch" "$out"
    finish
fi

if [ "$part" != vtest ]; then
# --- small videos -----------------------------------------------------------
v=$tmp/videos
mkdir -p "$v"
ff() { ffmpeg -nostdin -v error -y "$@"; }
src2() { echo "testsrc2=size=$1:rate=$2"; }
made=1
# 37 frames (2 clips + 5), odd size, 4:4:4 h264 in mp4
ff -f lavfi -i "$(src2 96x60 12)" -vf scale=97:61 -frames:v 37 -c:v libx264 -pix_fmt yuv444p "$v/a.mp4" || made=0
# 20 frames (1 clip + 4), odd size, vp9 in mkv
ff -f lavfi -i "$(src2 80x44 10)" -vf scale=81:45 -frames:v 20 -c:v libvpx-vp9 -pix_fmt yuv420p "$v/b.mkv" || made=0
# 33 frames (2 clips + 1), odd size, full-range mjpeg in avi
ff -f lavfi -i "testsrc=size=63x47:rate=15" -frames:v 33 -c:v mjpeg -pix_fmt yuvj420p "$v/c.avi" || made=0
# 18 frames (1 clip + 2), mpeg4 in mkv
ff -f lavfi -i "$(src2 64x48 25)" -frames:v 18 -c:v mpeg4 "$v/d.mkv" || made=0
# a.mp4 with a display matrix: turned 90 degrees, 61x97 upright
ff -i "$v/a.mp4" -c copy -metadata:s:v:0 rotate=90 "$v/rot.mp4" || made=0
# variable frame rate: 20 frames at 10 fps then 19 at 25 fps (39 frames, 2 clips)
ff -f lavfi -i "testsrc=size=64x48:rate=10" -frames:v 20 -c:v libx264 -pix_fmt yuv420p "$tmp/s1.mkv" || made=0
ff -f lavfi -i "testsrc=size=64x48:rate=25" -frames:v 19 -c:v libx264 -pix_fmt yuv420p "$tmp/s2.mkv" || made=0
printf "file '%s'\nfile '%s'\n" "$tmp/s1.mkv" "$tmp/s2.mkv" > "$tmp/concat.txt"
ff -f concat -safe 0 -i "$tmp/concat.txt" -c copy "$v/vfr.mkv" || made=0
# not a video, a video damaged in the middle, and a file without a video stream
head -c 4096 /dev/urandom > "$v/junk.mp4"
cp "$v/a.mp4" "$v/broken.mp4"
"$py" -c 'import os, sys; p = sys.argv[1]; f = open(p, "r+b"); f.seek(os.path.getsize(p) // 2); f.write(b"\xff" * 2000)' "$v/broken.mp4" || made=0
ff -f lavfi -i "sine=duration=0.5" "$tmp/sound.wav" || made=0
if [ $made = 1 ]; then ok "ffmpeg made the test videos"; else notok "ffmpeg made the test videos"; finish; fi

# --- extract a folder: counts, errors named, others go on ---------------------
o=$tmp/out
"$arnet" extract --extractor "$x" --threads 2 --strict --out "$o" "$v/a.mp4" "$v/b.mkv" "$v/c.avi" "$v/d.mkv" \
    "$v/rot.mp4" "$v/vfr.mkv" "$v/junk.mp4" "$v/broken.mp4" "$tmp/sound.wav" "$v/missing.mp4" \
    > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ]; then ok "a failed video makes the exit status 1"; else notok "a failed video makes the exit status 1 (got $rc)" "$(cat "$tmp/err")"; fi
for what in "junk.mp4: cannot open: Invalid data" "sound.wav: no video stream" \
            "missing.mp4: cannot open: No such file" "broken.mp4: decoding failed after [0-9]* frames: Invalid data"; do
    if grep -q "$what" "$tmp/err"; then ok "error named: $what"; else notok "error named: $what" "$(cat "$tmp/err")"; fi
done
if grep -q "6 written, 0 already there, 4 failed" "$tmp/err"; then ok "the others went on (6 written)"; else notok "the others went on (6 written)" "$(cat "$tmp/err")"; fi
shapes=$("$py" - "$o" << 'EOF'
import sys, numpy as np
for s in ("a", "b", "c", "d", "rot", "vfr"):
    x = np.load("%s/%s.npy" % (sys.argv[1], s))
    assert x.dtype == np.float32 and np.isfinite(x).all(), s
    print("%s=%s" % (s, "x".join(map(str, x.shape))), end=" ")
EOF
)
want="a=2x1024 b=1x1024 c=2x1024 d=1x1024 rot=2x1024 vfr=2x1024 "
if [ "$shapes" = "$want" ]; then ok "clip counts per video ($want)"; else notok "clip counts per video" "got '$shapes', want '$want'"; fi
if [ -f "$o/outputs.tsv" ] && [ "$(grep -vc '^#' "$o/outputs.tsv")" = 6 ] &&
   grep -q "^rot.npy	2	37	12	.*rot.mp4$" "$o/outputs.tsv"; then
    ok "outputs.tsv lists the six outputs with clips, frames, fps and source"
else
    notok "outputs.tsv lists the six outputs" "$(cat "$o/outputs.tsv" 2>&1)"
fi
if ls "$o" | grep -q tmp; then notok "no temporary files left" "$(ls "$o")"; else ok "no temporary files left"; fi

# --- damage: skipped, counted and named; --strict fails the video ------------
# broken.mp4 (damaged in the middle) and a 40-frame AVI cut in half (its
# header still states 40 frames).
ff -f lavfi -i "$(src2 64x48 10)" -frames:v 40 -c:v mjpeg "$tmp/full.avi" &&
    head -c $(($(wc -c < "$tmp/full.avi") / 2)) "$tmp/full.avi" > "$v/cut.avi" ||
    notok "ffmpeg made a 40-frame AVI to cut"
"$arnet" extract --extractor "$x" --out "$tmp/dmg" "$v/broken.mp4" "$v/cut.avi" > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "broken.mp4: damaged: [1-9][0-9]* packets" "$tmp/err" &&
   grep -q "cut.avi: damaged: .*, [1-9][0-9]* of the frames the file states never came" "$tmp/err" &&
   grep -q "2 written, .*2 of those written damaged" "$tmp/err" &&
   [ -f "$tmp/dmg/broken.npy" ] && [ -f "$tmp/dmg/cut.npy" ]; then
    ok "damaged videos are written from what decodes, each named with its damage and counted"
else
    notok "damaged videos are written, named and counted (exit $rc)" "$(cat "$tmp/err")"
fi
"$arnet" extract --extractor "$x" --strict --out "$tmp/dmg2" "$v/cut.avi" > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -qE "cut.avi: (decoding failed after [0-9]+ frames|damaged: .*never came.*\(--strict\))" "$tmp/err" &&
   [ ! -e "$tmp/dmg2/cut.npy" ]; then
    ok "--strict: a file cut short fails, nothing written"
else
    notok "--strict: a cut file fails (exit $rc)" "$(cat "$tmp/err")"
fi

# --- decoded then extracted == the same frames given as .npy ------------------
# The ffmpeg program decodes to raw RGB24 (it applies the rotation too), a
# .npy is made of that, and `arnet extract --frames` runs on it.
# Sizes whose rows swscale overran when the RGB buffer was sized exactly
# (widths not a multiple of 16): 426x240 4:2:0 h264 and 200x120 4:2:2.
ff -f lavfi -i "$(src2 426x240 25)" -frames:v 16 -c:v libx264 -pix_fmt yuv420p "$v/w426.mp4" &&
ff -f lavfi -i "$(src2 200x120 25)" -frames:v 16 -c:v libx264 -pix_fmt yuv422p "$v/w200.mkv" ||
    notok "ffmpeg made the 426x240 and 200x120 videos"
check "426x240 and 200x120 videos extract (swscale's row overrun has room)" \
    "$arnet" extract --extractor "$x" --out "$tmp/sizes" "$v/w426.mp4" "$v/w200.mkv"
for s in rot.mp4 vfr.mkv w426.mp4 w200.mkv; do
    stem=${s%.*}
    od=$o
    case $s in w*) od=$tmp/sizes ;; esac
    w=$(ffprobe -v error -select_streams v -show_entries stream=width -of default=nw=1:nk=1 "$v/$s" | head -1)
    h=$(ffprobe -v error -select_streams v -show_entries stream=height -of default=nw=1:nk=1 "$v/$s" | head -1)
    [ "$s" = rot.mp4 ] && { t=$w; w=$h; h=$t; }
    ffmpeg -nostdin -v quiet -y -i "$v/$s" -f rawvideo -pix_fmt rgb24 -fps_mode passthrough "$tmp/$stem.rgb"
    "$py" -c '
import sys, numpy as np
w, h = int(sys.argv[2]), int(sys.argv[3])
raw = np.fromfile(sys.argv[1], dtype=np.uint8)
np.save(sys.argv[4], raw.reshape(-1, h, w, 3))
' "$tmp/$stem.rgb" "$w" "$h" "$tmp/$stem.frames.npy"
    if out=$("$arnet" extract --extractor "$x" --frames "$tmp/$stem.frames.npy" --out "$tmp/$stem.f.npy" 2>&1) &&
       out=$("$py" -c '
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape, (a.shape, b.shape)
d = float(np.abs(a - b).max())
assert d == 0.0, "max difference %g" % d
' "$od/$stem.npy" "$tmp/$stem.f.npy" 2>&1); then
        ok "$s: decoded features equal the ffmpeg program's frames as .npy (bit for bit)"
    else
        notok "$s: decoded features equal the ffmpeg program's frames as .npy" "$out"
    fi
done

# --- --frames errors ------------------------------------------------------------
"$py" -c 'import numpy as np; np.save("'"$tmp"'/f32.npy", np.zeros((4, 8, 8, 3), np.float32)); np.save("'"$tmp"'/rank3.npy", np.zeros((4, 8, 8), np.uint8))'
for case in "f32.npy:frames must be uint8 \[N, H, W, 3\] RGB, not dtype <f4" \
            "rank3.npy:frames must have shape \[N, H, W, 3\] (rank 3)" "nothere.npy:cannot open"; do
    f=${case%%:*} msg=${case#*:}
    "$arnet" extract --extractor "$x" --frames "$tmp/$f" --out "$tmp/x.npy" > /dev/null 2> "$tmp/err"
    if [ $? -eq 1 ] && grep -q "$f: $msg" "$tmp/err" && [ ! -e "$tmp/x.npy" ]; then
        ok "--frames $f refused naming the file"
    else
        notok "--frames $f refused naming the file" "$(cat "$tmp/err")"
    fi
done
"$arnet" extract --extractor "$x" --frames "$tmp/rot.frames.npy" --out "$tmp/rot.f.npy" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q -- "--force" "$tmp/err"; then ok "--frames does not replace an existing OUT.npy without --force"; else notok "--frames does not replace an existing OUT.npy without --force" "$(cat "$tmp/err")"; fi
"$arnet" extract --extractor "$x" --frames "$tmp/rot.frames.npy" --out "$tmp/rot.frames.npy" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && [ -s "$tmp/rot.frames.npy" ]; then ok "--out equal to --frames is refused"; else notok "--out equal to --frames is refused" "$(cat "$tmp/err")"; fi
"$arnet" extract --extractor "$tmp/nothere.arnet" --out "$tmp/o2" "$v/a.mp4" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "nothere.arnet" "$tmp/err"; then ok "a missing extractor file is named"; else notok "a missing extractor file is named" "$(cat "$tmp/err")"; fi
"$arnet" extract --extractor "$x" --out "$tmp/o2" "$v/a.mp4" "$tmp/a.mp4" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q "would both be written as" "$tmp/err"; then ok "two inputs with one output name are refused"; else notok "two inputs with one output name are refused" "$(cat "$tmp/err")"; fi

# --- resume: finished outputs are skipped -------------------------------------
cp -p "$o/a.npy" "$tmp/a.before"
rm "$o/b.npy"
"$arnet" extract --extractor "$x" --out "$o" "$v/a.mp4" "$v/b.mkv" "$v/c.avi" "$v/d.mkv" \
    "$v/rot.mp4" "$v/vfr.mkv" > /dev/null 2> "$tmp/err"
if [ $? -eq 0 ] && grep -q "1 written, 5 already there, 0 failed" "$tmp/err" && [ -f "$o/b.npy" ] &&
   [ "$(stat -c %Y.%s "$o/a.npy")" = "$(stat -c %Y.%s "$tmp/a.before")" ]; then
    ok "a second run extracts only the missing output"
else
    notok "a second run extracts only the missing output" "$(cat "$tmp/err")"
fi

# --- interrupted: nothing partial is published -------------------------------------
ff -f lavfi -i "testsrc=size=64x48:rate=25" -frames:v 480 -c:v mpeg4 "$tmp/long.mp4"
"$arnet" extract --extractor "$x" --out "$tmp/int" "$tmp/long.mp4" > /dev/null 2> "$tmp/err" &
pid=$!
sleep 6
kill -INT $pid 2> /dev/null
wait $pid
rc=$?
if [ $rc -eq 130 ] && [ ! -e "$tmp/int/long.npy" ] && [ -z "$(ls "$tmp/int" | grep -v "^outputs.tsv$\|^arnet-extract$")" ] && [ -z "$(ls "$tmp/int/arnet-extract/videos")" ]; then
    ok "Ctrl-C stops with status 130 and publishes no partial output"
elif [ $rc -eq 0 ] && [ -s "$tmp/int/long.npy" ]; then
    skip "Ctrl-C stops with status 130" "the run (30 clips) finished within six seconds"
else
    notok "Ctrl-C stops with status 130 and publishes no partial output" "status $rc; $(ls "$tmp/int" 2>&1); $(cat "$tmp/err")"
fi

# --- shards: N runs together write exactly the files of one run -----------------
# (the third shard reads the list from a file, in another order)
printf '%s\n' "$v/d.mkv" "$v/c.avi" "$v/b.mkv" > "$tmp/list.txt"
for k in 1 2 3; do
    if [ $k = 3 ]; then set -- --list "$tmp/list.txt"; else set -- "$v/b.mkv" "$v/d.mkv" "$v/c.avi"; fi
    "$arnet" extract --extractor "$x" --shard $k/3 --out "$tmp/sh" "$@" > /dev/null 2> "$tmp/err.$k" || notok "shard $k/3 runs" "$(cat "$tmp/err.$k")"
done
same=1
for s in b c d; do cmp -s "$tmp/sh/$s.npy" "$o/$s.npy" || same=0; done
if [ $same = 1 ] && [ "$(ls "$tmp/sh" | grep -c '\.npy$')" = 3 ] &&
   [ "$(grep -vc '^#' "$tmp/sh/outputs.tsv")" = 3 ]; then
    ok "three shards (one from --list) write the same files as one run, each once"
else
    notok "three shards write the same files as one run" "$(ls -l "$tmp/sh"; cat "$tmp"/err.*)"
fi
"$arnet" extract --extractor "$x" --shard 4/3 --out "$tmp/sh" "$v/a.mp4" > /dev/null 2>&1
if [ $? -eq 2 ]; then ok "--shard 4/3 is a usage error"; else notok "--shard 4/3 is a usage error"; fi

# --- options: pad the last clip, ten crops ------------------------------------------
# d.mkv: 18 frames, one clip of ten crops; b.mkv: 20 frames, a padded second clip.
if out=$("$arnet" extract --extractor "$x" --crops 10 --resize 340x256 --threads 2 --out "$tmp/c10" "$v/d.mkv" 2>&1) &&
   out=$("$arnet" extract --extractor "$x" --last-clip pad --resize 224x224 --out "$tmp/pad" "$v/b.mkv" 2>&1) &&
   out=$("$py" -c '
import sys, numpy as np
x = np.load(sys.argv[1]); assert x.shape == (1, 10, 1024), x.shape
y = np.load(sys.argv[2]); assert y.shape == (2, 1024), y.shape
' "$tmp/c10/d.npy" "$tmp/pad/b.npy" 2>&1) && grep -q "crops=10 resize=340x256" "$tmp/c10/arnet-extract/videos/d.done"; then
    ok "--crops 10 gives [1, 10, 1024]; --last-clip pad keeps 20 frames' second clip"
else
    notok "--crops 10 and --last-clip pad" "$out"
fi

# --- messages that say what is wrong (issue 17) ----------------------------------
# a picture too large (FFmpeg's own code for it reads "Device or resource busy")
printf 'YUV4MPEG2 W60000 H60000 F25:1 Ip A1:1 C420jpeg\nFRAME\nabc' > "$tmp/huge.y4m"
printf 'YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n' > "$tmp/empty.y4m"
ff -f lavfi -i "$(src2 64x48 25)" -frames:v 10 -c:v mpeg4 "$tmp/ten.avi"
"$arnet" extract --extractor "$x" --out "$tmp/msg" "$tmp/huge.y4m" "$tmp/ten.avi" > /dev/null 2> "$tmp/err"
if grep -q "huge.y4m: cannot open: the picture, 60000x60000, is too large" "$tmp/err" &&
   grep -q "ten.avi: 10 frames: no complete 16-frame clip (--last-clip pad keeps" "$tmp/err"; then
    ok "a 60000x60000 picture is too large; a 10-frame video suggests --last-clip pad"
else
    notok "a 60000x60000 picture is too large; a 10-frame video suggests --last-clip pad" "$(cat "$tmp/err")"
fi
# with --last-clip pad given, a video without frames does not suggest it
"$arnet" extract --extractor "$x" --last-clip pad --out "$tmp/msg2" "$tmp/empty.y4m" > /dev/null 2> "$tmp/err"
if grep -q "empty.y4m: no frame decoded" "$tmp/err" && ! grep -q "last-clip" "$tmp/err"; then
    ok "--last-clip pad on an empty video: no frame decoded, no --last-clip hint"
else
    notok "--last-clip pad on an empty video: no frame decoded, no --last-clip hint" "$(cat "$tmp/err")"
fi
# a list of outputs that could not be written is not named as written
mkdir -p "$tmp/msg3/outputs.tsv"
"$arnet" extract --extractor "$x" --out "$tmp/msg3" "$v/d.mkv" > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "; not written: $tmp/msg3/outputs.tsv" "$tmp/err"; then
    ok "outputs.tsv that could not be written: exit 1, the summary says it was not written"
else
    notok "outputs.tsv that could not be written: exit 1, the summary says it was not written" "exit $rc: $(cat "$tmp/err")"
fi

# --- watch ------------------------------------------------------------------------
# Threshold 0: every clip is over it, one alarm from clip 0 until the end.
# vfr.mkv's clip 2 starts at frame 32, 2.0 + 12 / 25 = 2.48 s (not 3.2 s at 10 fps).
"$arnet" watch --extractor "$x" --model "$m" --threshold 0 --min-on 1 --window 1 --json \
    "$v/vfr.mkv" > "$tmp/w.json" 2> "$tmp/err"
if [ $? -eq 0 ] && out=$("$py" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert [e["event"] for e in ev] == ["start", "end"], ev
assert ev[0]["video_time"] == 0 and ev[0]["clip"] == 0 and ev[0]["camera"] == "cam0", ev[0]
assert ev[1]["start_clip"] == 0 and ev[1]["end_clip"] == 1, ev[1]
assert abs(ev[1]["video_time"] - 2.48) < 1e-6 and ev[1]["reason"] == "end of input", ev[1]
' "$tmp/w.json" 2>&1) && grep -q "39 frames.*2 clips scored.*frames/s" "$tmp/err"; then
    ok "watch --json: alarm start and end with the variable frame rate's times, throughput"
else
    notok "watch --json: alarm start and end with times" "$(cat "$tmp/w.json" "$tmp/err"; echo "$out")"
fi
"$arnet" watch --extractor "$x" --model "$m" --threshold 0 --min-on 1 --window 1 "$v/rot.mp4" > "$tmp/w.txt" 2> "$tmp/err"
if [ $? -eq 0 ] && grep -q "^00:00:00.000 alarm start clip 0 score" "$tmp/w.txt" &&
   grep -q "^00:00:02.667 alarm end clips 0-1 from 00:00:00.000 peak" "$tmp/w.txt"; then
    ok "watch text lines: start and end times (12 fps)"
else
    notok "watch text lines" "$(cat "$tmp/w.txt" "$tmp/err")"
fi
# Raw frames on standard input (rot.mp4's, as a camera pipeline would pipe them).
ffmpeg -nostdin -v quiet -i "$v/rot.mp4" -f rawvideo -pix_fmt rgb24 - |
    "$arnet" watch --extractor "$x" --model "$m" --threshold 0 --min-on 1 --window 1 \
        --size 61x97 --fps 12 - > "$tmp/w2.txt" 2> "$tmp/err"
if cmp -s "$tmp/w.txt" "$tmp/w2.txt" && grep -q "37 frames" "$tmp/err"; then
    ok "watch on raw frames from stdin gives the file's alarm lines"
else
    notok "watch on raw frames from stdin gives the file's alarm lines" "$(cat "$tmp/w2.txt" "$tmp/err")"
fi
# No threshold given and none in the model: 0.5 with a note (an 8-frame
# video: no clip to compute).  With the model's calibration.threshold: that one.
ff -f lavfi -i "$(src2 64x48 10)" -frames:v 8 -c:v libx264 -pix_fmt yuv420p "$tmp/tiny.mkv"
"$arnet" watch --extractor "$x" --model "$m" "$tmp/tiny.mkv" > /dev/null 2> "$tmp/err"
if [ $? -eq 0 ] && grep -q "no calibrated threshold (calibration.threshold); using 0.5" "$tmp/err" &&
   grep -q "8 frames.*0 clips scored" "$tmp/err"; then
    ok "watch without a threshold uses 0.5 and says so"
else
    notok "watch without a threshold uses 0.5 and says so" "$(cat "$tmp/err")"
fi
if PYTHONPATH="$src/bindings/python" "$py" -c '
import sys, arnet
m = arnet.Model.load(sys.argv[1]); m.set_meta("calibration.threshold", "0.25"); m.save(sys.argv[2])
' "$m" "$tmp/mc.arnet" 2> "$tmp/err"; then
    "$arnet" watch --extractor "$x" --model "$tmp/mc.arnet" "$tmp/tiny.mkv" > /dev/null 2> "$tmp/err"
    if [ $? -eq 0 ] && grep -q "threshold 0.25$" "$tmp/err" && ! grep -q "no calibrated" "$tmp/err"; then
        ok "watch takes the model's calibration.threshold"
    else
        notok "watch takes the model's calibration.threshold" "$(cat "$tmp/err")"
    fi
else
    skip "watch takes the model's calibration.threshold" "the Python binding could not set it: $(tail -1 "$tmp/err")"
fi
# --realtime paces the 8 frames (0.8 s at 10 fps): at most real time.
"$arnet" watch --extractor "$x" --model "$m" --threshold 0.5 --realtime "$tmp/tiny.mkv" > /dev/null 2> "$tmp/err"
factor=$(sed -n 's/.*(\([0-9.]*\)x real time).*/\1/p' "$tmp/err")
if [ -n "$factor" ] && awk -v f="$factor" 'BEGIN { exit !(f > 0.5 && f <= 1.0) }'; then
    ok "watch --realtime runs at most at real time (${factor}x)"
else
    notok "watch --realtime runs at most at real time" "$(cat "$tmp/err")"
fi
"$arnet" watch --extractor "$x" --model "$m" - > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q "need --size WxH and --fps F" "$tmp/err"; then ok "raw input without --size/--fps is a usage error"; else notok "raw input without --size/--fps is a usage error" "$(cat "$tmp/err")"; fi
"$arnet" watch --extractor "$x" --model "$m" "$v/junk.mp4" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "junk.mp4: cannot open" "$tmp/err"; then ok "watch names a corrupt file"; else notok "watch names a corrupt file" "$(cat "$tmp/err")"; fi
"$arnet" synth --out "$tmp/syn8" --scale 0.05 --feature-dim 8 --seed 1 > /dev/null 2>&1
"$arnet" train --train "$tmp/syn8/train.txt" --out "$tmp/m8.arnet" --iterations 1 \
    --batch-normal 4 --batch-anomalous 4 > /dev/null 2>&1
"$arnet" watch --extractor "$x" --model "$tmp/m8.arnet" "$tmp/tiny.mkv" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "m8.arnet scores 8 features per clip, but .* makes 1024" "$tmp/err"; then ok "watch refuses a model of another feature size"; else notok "watch refuses a model of another feature size" "$(cat "$tmp/err")"; fi

# --- the VMS example: cameras on threads, frames in, alarms out ----------------
if [ -n "$vms" ]; then
    "$vms" --extractor "$x" --model "$m" --cameras 3 --threads 2 --frames 16 --size 64x48 \
        --threshold 0 > "$tmp/vms.txt" 2>&1
    if [ $? -eq 0 ] && [ "$(grep -c "alarm start" "$tmp/vms.txt")" = 3 ] &&
       grep -q "^3 cameras (generated frames) on 2 threads: 48 frames, 3 clips .* frames/s per core" "$tmp/vms.txt"; then
        ok "vms_frames: 3 generated cameras on 2 threads, alarms and frames/s per core"
    else
        notok "vms_frames with generated frames" "$(cat "$tmp/vms.txt")"
    fi
    "$vms" --extractor "$x" --model "$m" --cameras 2 --threads 2 --frames 100 --threshold 0 \
        "$v/a.mp4" "$v/b.mkv" > "$tmp/vms.txt" 2>&1
    if [ $? -eq 0 ] && grep -q "^2 cameras (video files) on 2 threads: 57 frames, 3 clips" "$tmp/vms.txt"; then
        ok "vms_frames: two cameras playing video files until they end"
    else
        notok "vms_frames with video files" "$(cat "$tmp/vms.txt")"
    fi
fi

fi

# --- OpenCV's vtest.avi (768x576, 10 fps, 795 frames): 49 clips ----------------------
vt=
[ "$part" = main ] && finish
for c in /usr/share/doc/opencv-doc/examples/data/vtest.avi /usr/share/doc/opencv-doc/examples/data/vtest.avi.gz \
         /usr/share/opencv4/samples/data/vtest.avi; do
    [ -f "$c" ] && { vt=$c; break; }
done
if [ -z "$vt" ]; then
    skip "vtest.avi end to end" "Debian's opencv-doc is not installed (no vtest.avi)"
else
    case $vt in *.gz) gzip -dc "$vt" > "$tmp/vtest.avi"; vt=$tmp/vtest.avi ;; esac
    if "$arnet" extract --extractor "$x" --threads 2 --out "$tmp/vt" "$vt" > /dev/null 2> "$tmp/err" &&
       "$py" -c '
import sys, numpy as np
x = np.load(sys.argv[1]); assert x.shape == (49, 1024), x.shape
' "$tmp/vt/vtest.npy" && "$arnet" score --model "$m" "$tmp/vt/vtest.npy" > "$tmp/vt.scores" &&
       [ "$(grep -vc '^#' "$tmp/vt.scores")" = 49 ]; then
        ok "vtest.avi: 795 frames -> 49 clips -> 49 scores ($(grep -o '[0-9.]* clips/s' "$tmp/err" | tail -1))"
    else
        notok "vtest.avi end to end" "$(cat "$tmp/err")"
    fi
fi
finish
