#!/bin/sh
# check_two_stream.sh -- `arnet watch --flow-extractor` and
# `examples/vms_frames --flow-extractor` on a real video file (33 frames of
# 64x48 h264 made by the ffmpeg program: two two-stream clips), random I3D
# RGB and flow weights made by tests/reference/i3d_torch.py and converted by
# `arnet import i3d`, and a 2048-feature model trained on synthetic
# features.  The reference is the offline path: `arnet extract
# --flow-extractor` on the same file, then `arnet score`.  Checks: the
# events are well formed (JSON lines, start and end of one alarm, times, the
# throughput line), each clip's raw score in watch and in vms_frames (two
# cameras on two threads) equals the offline score, and the comparison can
# fail (the offline features with their flow halves swapped between the
# clips, as a stream misaligned by one clip would make them, score
# differently).  Writes TAP.
# usage: check_two_stream.sh ARNET_EXE SOURCE_ROOT VMS_FRAMES_EXE
set -u
arnet=$1 src=$2 vms=$3
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/# /'; }
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

if ! "$arnet" extract --help | grep -q "FFmpeg"; then
    echo "1..0 # SKIP arnet was built without video decoding (libavformat-dev; check_video.sh checks what it says)"
    exit 0
fi
"$arnet" extract --extractor "$tmp/none.arnet" --out "$tmp/o" "$tmp/none.mp4" > /dev/null 2> "$tmp/err"
if grep -q "built without video decoding" "$tmp/err"; then
    echo "1..0 # SKIP arnet was built without video decoding (libavformat-dev; check_video.sh checks what it says)"
    exit 0
fi
if ! command -v ffmpeg > /dev/null; then
    echo "1..0 # SKIP the ffmpeg program is not installed (apt-get install ffmpeg)"
    exit 0
fi
if ! "$py" -c 'import numpy, torch' 2> /dev/null; then
    echo "1..0 # SKIP /usr/bin/python3 lacks numpy or torch (python3-torch) for the I3D weights"
    exit 0
fi

# --- the two networks, a 2048-feature model, a video ------------------------
x=$tmp/rgb.arnet fx=$tmp/flow.arnet m=$tmp/m.arnet v=$tmp/v.mp4
if out=$("$py" "$src/tests/reference/i3d_torch.py" weights --out "$tmp/r.pt" --seed 5 2>&1 &&
         "$py" "$src/tests/reference/i3d_torch.py" weights --out "$tmp/f.pt" --seed 6 \
             --in-channels 2 2>&1 &&
         "$arnet" import i3d "$tmp/r.pt" --out "$x" --level 0 2>&1 &&
         "$arnet" import i3d "$tmp/f.pt" --out "$fx" --level 0 2>&1 &&
         "$arnet" synth --out "$tmp/syn" --scale 0.05 --feature-dim 2048 --seed 1 2>&1 &&
         "$arnet" train --train "$tmp/syn/train.txt" --out "$m" --iterations 3 --seed 1 \
             --batch-normal 4 --batch-anomalous 4 2>&1 &&
         ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=64x48:rate=10" -frames:v 33 \
             -c:v libx264 -pix_fmt yuv420p "$v" 2>&1); then
    ok "RGB and flow extractors, a 2048-feature model and a 33-frame video"
else
    notok "RGB and flow extractors, a 2048-feature model and a 33-frame video" "$out"
    finish
fi
rm -f "$tmp/r.pt" "$tmp/f.pt"

# --- the offline path: extract, then score -----------------------------------
if "$arnet" extract --extractor "$x" --flow-extractor "$fx" --threads 2 --quiet --out "$tmp/feat" \
       "$v" > /dev/null 2> "$tmp/err" &&
   "$arnet" score --model "$m" --json "$tmp/feat/v.npy" > "$tmp/offline.json" 2>> "$tmp/err" &&
   "$py" -c '
import json, sys, numpy as np
f = np.load(sys.argv[1]); assert f.shape == (2, 2048) and np.isfinite(f).all(), f.shape
s = json.load(open(sys.argv[2]))["videos"][0]["scores"]; assert len(s) == 2, s
' "$tmp/feat/v.npy" "$tmp/offline.json" 2>> "$tmp/err"; then
    ok "arnet extract --flow-extractor: [2, 2048] for 33 frames; arnet score: 2 scores"
else
    notok "arnet extract --flow-extractor, then arnet score" "$(cat "$tmp/err")"
    finish
fi
# Random I3D weights make features far outside the synthetic features the
# model was trained on: its scores are tiny (about 1e-32, the sigmoid deep
# in its tail), so scores are compared relatively, which compares the
# model's logits (score ~ exp(logit) there) within about 1e-5.
# Flow halves swapped between the two clips: what a flow stream one clip
# off would give.  Its scores must differ from the right ones by far more
# than the tolerance below, or the comparisons could not fail.
"$py" -c '
import sys, numpy as np
f = np.load(sys.argv[1]); g = f.copy(); g[0, 1024:], g[1, 1024:] = f[1, 1024:], f[0, 1024:]
np.save(sys.argv[2], g)
' "$tmp/feat/v.npy" "$tmp/swapped.npy" &&
    "$arnet" score --model "$m" --json "$tmp/swapped.npy" > "$tmp/swapped.json" 2> "$tmp/err"
if out=$("$py" -c '
import json, sys
a = json.load(open(sys.argv[1]))["videos"][0]["scores"]
b = json.load(open(sys.argv[2]))["videos"][0]["scores"]
d = max(abs(x - y) / max(abs(y), 1e-38) for x, y in zip(a, b))
assert d > 1e-3, (a, b)
print("a relative %.2g" % d)
' "$tmp/offline.json" "$tmp/swapped.json" 2>&1); then
    ok "the check can fail: flow halves one clip off change the scores by $out (> 1e-3)"
else
    notok "the check can fail: flow halves one clip off change the scores" "$out $(cat "$tmp/err")"
fi

# --- arnet watch --flow-extractor ---------------------------------------------
# Threshold 0, one clip on, no smoothing: one alarm over both clips.  10 fps:
# clip 1 ends at frame 32 (the flow clip's last frame), 3.2 s.
"$arnet" watch --extractor "$x" --flow-extractor "$fx" --model "$m" --threads 2 --threshold 0 \
    --min-on 1 --window 1 --json --scores "$v" > "$tmp/w.json" 2> "$tmp/err"
rc=$?
if [ $rc -eq 0 ] && out=$("$py" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e["event"] for e in ev]
assert kinds == ["start", "score", "score", "end"] or kinds == ["score", "start", "score", "end"], kinds
for e in ev:
    assert e["camera"] == "cam0" and isinstance(e["video_time"], (int, float)), e
start, end = [e for e in ev if e["event"] == "start"][0], ev[-1]
assert start["clip"] == 0 and start["video_time"] == 0, start
assert end["start_clip"] == 0 and end["end_clip"] == 1 and end["reason"] == "end of input", end
assert abs(end["video_time"] - 3.2) < 1e-6, end
' "$tmp/w.json" 2>&1) && grep -q "33 frames.*2 clips scored.*frames/s" "$tmp/err"; then
    ok "watch --flow-extractor --json: one alarm over clips 0-1 (start, end at 3.2 s, end of input), score lines, throughput"
else
    notok "watch --flow-extractor --json events (exit $rc)" "$(cat "$tmp/w.json" "$tmp/err"; echo "$out")"
fi
# watch prints raw scores with %.6g: equal to the offline ones within a
# relative 1e-5.
if out=$("$py" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
got = [e["raw"] for e in ev if e["event"] == "score"]
want = json.load(open(sys.argv[2]))["videos"][0]["scores"]
assert len(got) == 2 and max(abs(a - b) / max(abs(b), 1e-38) for a, b in zip(got, want)) <= 1e-5, (got, want)
print("%s vs %s" % (" ".join("%.6g" % a for a in got), " ".join("%.7g" % b for b in want)))
' "$tmp/w.json" "$tmp/offline.json" 2>&1); then
    ok "watch --flow-extractor scores equal extract --flow-extractor + score ($out)"
else
    notok "watch --flow-extractor scores equal extract --flow-extractor + score" "$out"
fi

# --- examples/vms_frames --flow-extractor: two cameras on two threads ----------
"$vms" --extractor "$x" --flow-extractor "$fx" --model "$m" --cameras 2 --threads 2 --frames 100 \
    --threshold 0 --scores "$v" > "$tmp/vms.txt" 2>&1
rc=$?
if [ $rc -eq 0 ] && out=$("$py" -c '
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
want = json.load(open(sys.argv[2]))["videos"][0]["scores"]
for cam in (0, 1):
    mine = [l for l in lines if l.startswith("camera %d: " % cam)]
    sc = [re.fullmatch(r"camera \d: clip (\d+) score (\S+) smoothed (\S+)", l) for l in mine]
    sc = [(int(m.group(1)), float(m.group(2))) for m in sc if m]
    assert [c for c, _ in sc] == [0, 1], mine
    assert max(abs(s - w) / max(abs(w), 1e-38) for (_, s), w in zip(sc, want)) <= 1e-5, (sc, want)
    al = [l for l in mine if "alarm" in l]
    assert len(al) == 2 and re.fullmatch(r"camera \d: alarm start at 0\.00 s \(clip 0, score [0-9.]+\)", al[0]) \
        and re.fullmatch(r"camera \d: alarm end, clips 0-1 \(from 0\.00 s\), peak [0-9.]+", al[1]), al
summary = [l for l in lines if l.startswith("2 cameras")]
assert len(summary) == 1 and re.match(r"2 cameras \(video files\) on 2 threads: 66 frames, 4 clips .* two-stream state [0-9.]+ MB per camera$", summary[0]), summary
' "$tmp/vms.txt" "$tmp/offline.json" 2>&1); then
    ok "vms_frames --flow-extractor: 2 cameras on 2 threads, an alarm each, clip scores equal extract + score"
else
    notok "vms_frames --flow-extractor (exit $rc)" "$(cat "$tmp/vms.txt"; echo "$out")"
fi
# A model of the RGB stream's size is refused, naming both networks.
"$arnet" synth --out "$tmp/syn1" --scale 0.05 --feature-dim 1024 --seed 1 > /dev/null 2>&1 &&
    "$arnet" train --train "$tmp/syn1/train.txt" --out "$tmp/m1.arnet" --iterations 1 --seed 1 \
        --batch-normal 4 --batch-anomalous 4 > /dev/null 2>&1
"$vms" --extractor "$x" --flow-extractor "$fx" --model "$tmp/m1.arnet" --cameras 1 "$v" > "$tmp/vms1.txt" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "m1.arnet scores 1024 features per clip, but .*rgb.arnet with .*flow.arnet makes 2048" "$tmp/vms1.txt"; then
    ok "vms_frames --flow-extractor refuses a 1024-feature model, naming both networks"
else
    notok "vms_frames --flow-extractor refuses a 1024-feature model (exit $rc)" "$(cat "$tmp/vms1.txt")"
fi
"$arnet" watch --extractor "$x" --flow-extractor "$fx" --model "$tmp/m1.arnet" "$v" > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "m1.arnet scores 1024 features per clip" "$tmp/err"; then
    ok "watch --flow-extractor refuses a 1024-feature model"
else
    notok "watch --flow-extractor refuses a 1024-feature model (exit $rc)" "$(cat "$tmp/err")"
fi
finish
