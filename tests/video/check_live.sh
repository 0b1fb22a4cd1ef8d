#!/bin/sh
# check_live.sh -- `arnet watch` against real servers on 127.0.0.1, each step
# with a bounded runtime: UDP with no sender, an HTTP server that accepts
# and sends nothing, an RTSP server (Debian's gst-rtsp-server through
# tests/video/rtsp_server.py) serving OpenCV's vtest.avi that is killed
# mid-stream and restarted, SIGINT/SIGTERM in every state (connecting,
# reading, waiting to reconnect, sleeping in --realtime), the damage policy
# (skip and count; --strict stops), several cameras in one process, alarm
# snapshots, and events to a real mosquitto broker restarted during the
# run.  Also SIGTERM for `arnet train` and `arnet extract`.  Writes TAP.
# usage: check_live.sh ARNET_EXE SOURCE_ROOT
set -u
arnet=$1 src=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/# /'; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2> /dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
py=/usr/bin/python3
now() { date +%s%N; }
ms_since() { echo $(( ($(now) - $1) / 1000000 )); }
# wait_for FILE PATTERN SECONDS: until grep finds PATTERN in FILE
wait_for() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        grep -q "$2" "$1" 2> /dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
# stop PID SIGNAL: send it, wait; sets st (exit status) and el (milliseconds)
stop() {
    t=$(now); kill -"$2" "$1"; wait "$1"; st=$?
    el=$(ms_since "$t")
}
# wait_socket PID SECONDS: until the process has a socket open (the models
# are loaded and it is connecting), then a little more
wait_socket() { wait_fd "$1" socket "$2"; }
# wait_fd PID PATTERN SECONDS: until one of its open files matches
wait_fd() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        ls -l /proc/"$1"/fd 2> /dev/null | grep -q "$2" && { sleep 0.5; return 0; }
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if ! "$arnet" watch --help | grep -q -- "--cameras"; then notok "watch --help lists --cameras"; else ok "watch --help lists --cameras"; fi
if "$arnet" watch --help | grep -q "built without video"; then
    echo "1..0 # SKIP this arnet was built without FFmpeg (libavformat-dev ...)"
    exit 0
fi
for prog in ffmpeg mosquitto mosquitto_sub; do
    command -v $prog > /dev/null || { echo "1..0 # SKIP $prog is not installed (dev.sh test installs it)"; exit 0; }
done
if ! "$py" -c 'import numpy, torch' 2> /dev/null; then
    echo "1..0 # SKIP /usr/bin/python3 lacks numpy or torch (python3-torch) for the I3D weights"
    exit 0
fi

# --- an extractor (random I3D weights) and a 1024-feature model -------------------
x=$tmp/i3d.arnet m=$tmp/m.arnet
if ! out=$("$py" "$src/tests/reference/i3d_torch.py" weights --out "$tmp/w.pt" --seed 5 2>&1 &&
           "$arnet" import i3d "$tmp/w.pt" --out "$x" 2>&1 &&
           "$arnet" synth --out "$tmp/syn" --scale 0.05 --feature-dim 1024 --seed 1 2>&1 &&
           "$arnet" train --train "$tmp/syn/train.txt" --out "$m" --iterations 2 --seed 1 \
               --batch-normal 4 --batch-anomalous 4 --quiet 2>&1); then
    notok "an extractor and a model" "$out"
    finish
fi
rm -f "$tmp/w.pt"
ok "an extractor and a model"
W() { "$arnet" watch --extractor "$x" --model "$m" "$@"; }
# for `Wbg ... &`: $! is then the watcher itself, not a subshell
Wbg() { exec "$arnet" watch --extractor "$x" --model "$m" "$@"; }

# --- UDP with no sender -------------------------------------------------------------
p=$(free_port)
t=$(now)
W --json --timeout 1 --retries 2 --reconnect-max 0.5 "udp://127.0.0.1:$p" > "$tmp/u.json" 2> "$tmp/u.err"
rc=$? el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 15000 ] && grep -q '"stream lost".*no data for 1 s (timeout)' "$tmp/u.json" &&
   grep -q "giving up after 2 attempts" "$tmp/u.err"; then
    ok "UDP with no sender: lost after the 1 s timeout, given up after --retries 2 (${el} ms)"
else
    notok "UDP with no sender: lost after the timeout" "rc $rc, $el ms; $(cat "$tmp/u.json" "$tmp/u.err")"
fi
Wbg --timeout 60 "udp://127.0.0.1:$p" > /dev/null 2> "$tmp/u.err" &
w=$!; wait_socket $w 60
stop $w TERM; set -- $st $el
if [ "$1" = 143 ] && [ "$2" -lt 1000 ]; then ok "UDP: SIGTERM while connecting ends it with 143 in $2 ms"; else notok "UDP: SIGTERM while connecting" "status $1 after $2 ms; $(cat "$tmp/u.err")"; fi

# --- an HTTP server that accepts and sends nothing ------------------------------------
"$py" -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$tmp/hport" &
pids="$pids $!"
wait_for "$tmp/hport" . 10
hp=$(cat "$tmp/hport")
t=$(now)
W --json --timeout 1 --retries 2 --reconnect-max 0.5 "http://127.0.0.1:$hp/cam.ts" > "$tmp/h.json" 2> "$tmp/h.err"
rc=$? el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$el" -lt 15000 ] && grep -q '"stream lost".*no data for 1 s (timeout)' "$tmp/h.json"; then
    ok "HTTP server that stalls: lost after the timeout (${el} ms)"
else
    notok "HTTP server that stalls: lost after the timeout" "rc $rc, $el ms; $(cat "$tmp/h.json" "$tmp/h.err")"
fi
Wbg --timeout 60 "http://127.0.0.1:$hp/cam.ts" > /dev/null 2> "$tmp/h.err" &
w=$!; wait_socket $w 60
stop $w INT; set -- $st $el
if [ "$1" = 130 ] && [ "$2" -lt 1000 ]; then ok "HTTP: SIGINT while reading ends it with 130 in $2 ms"; else notok "HTTP: SIGINT while reading" "status $1 after $2 ms; $(cat "$tmp/h.err")"; fi
# nothing listens: connection refused, waits of 0.5, 1, 2, 4 ... s between attempts
cp=$(free_port)
Wbg --json --reconnect-max 30 "rtsp://127.0.0.1:$cp/cam" > "$tmp/c.json" 2> "$tmp/c.err" &
w=$!; wait_for "$tmp/c.json" "stream lost" 60; sleep 1.2
stop $w TERM; set -- $st $el
if [ "$1" = 143 ] && [ "$2" -lt 1000 ] && grep -q "Connection refused" "$tmp/c.json"; then
    ok "SIGTERM while waiting to reconnect ends it with 143 in $2 ms"
else
    notok "SIGTERM while waiting to reconnect" "status $1 after $2 ms; $(cat "$tmp/c.json" "$tmp/c.err")"
fi

# --- an RTSP server killed mid-stream and restarted ------------------------------------
vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if ! "$py" -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' 2> /dev/null; then
    skip "RTSP server killed and restarted" "gir1.2-gst-rtsp-server-1.0 and python3-gi are not installed"
elif [ ! -f "$vtest" ]; then
    skip "RTSP server killed and restarted" "opencv-doc's vtest.avi is not installed"
else
    ffmpeg -nostdin -v error -y -i "$vtest" -frames:v 300 -c:v libx264 -preset veryfast -g 10 \
        -pix_fmt yuv420p "$tmp/vtest.mkv"
    rp=$(free_port)
    "$py" "$src/tests/video/rtsp_server.py" "$tmp/vtest.mkv" "$tmp/rport" --port "$rp" 2> "$tmp/rtsp.err" &
    srv=$!; pids="$pids $srv"
    wait_for "$tmp/rport" . 10
    Wbg --json --threshold 0 --min-on 1 --window 1 --timeout 2 --reconnect-max 1 --transport tcp \
        --id door "rtsp://127.0.0.1:$rp/cam" > "$tmp/r.json" 2> "$tmp/r.err" &
    w=$!
    wait_for "$tmp/r.json" '"start"' 40 && sleep 1
    kill $srv; wait $srv 2> /dev/null
    wait_for "$tmp/r.json" '"stream lost"' 15
    sleep 1
    rm -f "$tmp/rport"
    "$py" "$src/tests/video/rtsp_server.py" "$tmp/vtest.mkv" "$tmp/rport" --port "$rp" 2> "$tmp/rtsp.err" &
    srv=$!; pids="$pids $srv"
    wait_for "$tmp/r.json" '"stream back"' 15 && wait_for "$tmp/r.json" '"clip": [1-9]' 40
    stop $w TERM; set -- $st $el
    rc=$1 el=$2
    if out=$("$py" - "$tmp/r.json" << 'EOF' 2>&1
import json, re, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e["event"] for e in ev]
assert kinds == ["start", "stream lost", "end", "stream back", "start", "end"], kinds
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
for e in ev:
    assert e["camera"] == "door" and iso.match(e["time"]) and e["video_time"] >= 0, e
assert ev[2]["reason"] == "stream lost" and ev[5]["reason"] == "interrupted", ev
assert "ended" in ev[1]["reason"] or "no data" in ev[1]["reason"], ev[1]
assert ev[4]["clip"] > ev[2]["end_clip"], "clips go on counting after the reconnection"
assert ev[4]["video_time"] >= ev[2]["video_time"], "video time goes on"
print(kinds)
EOF
    ) && [ "$rc" = 143 ] && [ "$el" -lt 1000 ]; then
        ok "RTSP killed and restarted: start, stream lost, end (stream lost), stream back, start, end (interrupted); SIGTERM while reading 143 in $el ms"
    else
        notok "RTSP killed and restarted" "status $rc after $el ms; $out; $(cat "$tmp/r.json" "$tmp/r.err" "$tmp/rtsp.err")"
    fi
    kill $srv 2> /dev/null
fi

# --- the damage policy: skip and count, --strict stops ---------------------------------
ff() { ffmpeg -nostdin -v error -y "$@"; }
ff -f lavfi -i "testsrc2=size=96x64:rate=12" -frames:v 72 -c:v libx264 -pix_fmt yuv420p "$tmp/good.mp4"
cp "$tmp/good.mp4" "$tmp/broken.mp4"
"$py" -c 'import os, sys; p = sys.argv[1]; f = open(p, "r+b"); f.seek(os.path.getsize(p) // 2); f.write(b"\xff" * 2000)' "$tmp/broken.mp4"
W --threshold 0.5 "$tmp/broken.mp4" > /dev/null 2> "$tmp/d.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "damage skipped: [1-9][0-9]* packets" "$tmp/d.err" && ! grep -q "frames (.*; no damage" "$tmp/d.err"; then
    ok "an mp4 damaged in the middle: skipped, counted, reported, exit 0"
else
    notok "an mp4 damaged in the middle: skipped and counted" "rc $rc; $(cat "$tmp/d.err")"
fi
W --threshold 0.5 --strict "$tmp/broken.mp4" > /dev/null 2> "$tmp/d.err"
if [ $? -eq 1 ] && grep -q "broken.mp4: decoding failed after [0-9]* frames" "$tmp/d.err"; then ok "... --strict stops at the first"; else notok "... --strict stops at the first" "$(cat "$tmp/d.err")"; fi
ff -f lavfi -i "testsrc=size=64x48:rate=10" -frames:v 40 -c:v mjpeg "$tmp/cut.avi"
head -c $(( $(stat -c %s "$tmp/cut.avi") / 2 )) "$tmp/cut.avi" > "$tmp/halfcut.avi"
W --threshold 0.5 "$tmp/halfcut.avi" > /dev/null 2> "$tmp/d.err"
if [ $? -eq 0 ] && grep -q "[1-9][0-9]* frames missing at the end" "$tmp/d.err"; then ok "a half-cut AVI: the frames its header states but never came are reported"; else notok "a half-cut AVI: missing frames reported" "$(cat "$tmp/d.err")"; fi
# a timestamp jump of 10000 s: --realtime does not sleep through it
ff -f lavfi -i "testsrc2=size=64x48:rate=10" -frames:v 20 -c:v libx264 -bf 0 -pix_fmt yuv420p -f mpegts "$tmp/a.ts"
ff -f lavfi -i "testsrc2=size=64x48:rate=10" -frames:v 20 -c:v libx264 -bf 0 -pix_fmt yuv420p -output_ts_offset 10000 -f mpegts "$tmp/b.ts"
cat "$tmp/a.ts" "$tmp/b.ts" > "$tmp/jump.ts"
t=$(now)
timeout 60 "$arnet" watch --extractor "$x" --model "$m" --threshold 0.5 --realtime "$tmp/jump.ts" > /dev/null 2> "$tmp/d.err"
rc=$? el=$(ms_since "$t")
if [ $rc -eq 0 ] && grep -q "1 timestamp jumps" "$tmp/d.err" && grep -q "(4.0 s of video)" "$tmp/d.err"; then
    ok "a 10000 s timestamp jump: counted, --realtime goes on (${el} ms for 4 s of video)"
else
    notok "a 10000 s timestamp jump under --realtime" "rc $rc after $el ms; $(cat "$tmp/d.err")"
fi
# SIGTERM while --realtime sleeps (8 frames at 1 fps: it sleeps between frames)
ff -f lavfi -i "testsrc2=size=64x48:rate=1" -frames:v 8 -c:v libx264 -pix_fmt yuv420p "$tmp/slow.mkv"
Wbg --threshold 0.5 --realtime "$tmp/slow.mkv" > /dev/null 2> "$tmp/d.err" &
w=$!; wait_for "$tmp/d.err" "this camera holds" 60; sleep 1
stop $w TERM; set -- $st $el
if [ "$1" = 143 ] && [ "$2" -lt 1000 ]; then ok "SIGTERM while sleeping in --realtime: 143 in $2 ms"; else notok "SIGTERM while sleeping in --realtime" "status $1 after $2 ms; $(cat "$tmp/d.err")"; fi

# --- several cameras in one process ----------------------------------------------------
ff -f lavfi -i "testsrc2=size=64x48:rate=10" -frames:v 32 -c:v libx264 -pix_fmt yuv420p "$tmp/c2.mkv"
mkdir -p "$tmp/snap"
printf '# two cameras\nlobby %s threshold=0\ngarage %s   # a comment\n' "$tmp/good.mp4" "$tmp/c2.mkv" > "$tmp/cams.txt"
W --cameras "$tmp/cams.txt" --json --min-on 1 --window 1 --threshold 2 --scores --snapshots "$tmp/snap" \
    > "$tmp/m.json" 2> "$tmp/m.err"
rc=$?
if [ $rc -eq 0 ] && out=$("$py" - "$tmp/m.json" << 'EOF' 2>&1
import json, subprocess, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
lob = [e["event"] for e in ev if e["camera"] == "lobby"]
gar = [e["event"] for e in ev if e["camera"] == "garage"]
assert lob == ["start", "score", "score", "score", "score", "end"] or lob.count("score") == 4 and lob.count("start") == 1 and lob.count("end") == 1, lob
assert gar == ["score", "score"], gar   # threshold 2 from the command line: no alarm
end = [e for e in ev if e["camera"] == "lobby" and e["event"] == "end"][0]
assert end["reason"] == "end of input", end
p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
                    "-of", "csv=p=0", end["snapshot"]], capture_output=True, text=True)
assert p.stdout.strip() == "mjpeg,96,64", (end["snapshot"], p.stdout, p.stderr)
print("ok")
EOF
) && [ "$(grep -c "this camera holds" "$tmp/m.err")" = 2 ] && grep -q "shared by 2 cameras" "$tmp/m.err"; then
    ok "two cameras in one process: per-camera events, thresholds, memory stated; the peak's JPEG snapshot"
else
    notok "two cameras in one process" "rc $rc; ${out:-}; $(cat "$tmp/m.json" "$tmp/m.err")"
fi
printf 'a %s\nb\n' "$tmp/good.mp4" > "$tmp/bad1.txt"
printf 'a %s\na %s\n' "$tmp/good.mp4" "$tmp/good.mp4" > "$tmp/bad2.txt"
printf 'a %s color=red\n' "$tmp/good.mp4" > "$tmp/bad3.txt"
W --cameras "$tmp/bad1.txt" > /dev/null 2> "$tmp/e1"; r1=$?
W --cameras "$tmp/bad2.txt" > /dev/null 2> "$tmp/e2"; r2=$?
W --cameras "$tmp/bad3.txt" > /dev/null 2> "$tmp/e3"; r3=$?
if [ $r1 = 1 ] && grep -q "bad1.txt:2: camera 'b' has no URL" "$tmp/e1" &&
   [ $r2 = 1 ] && grep -q "bad2.txt:2: camera id 'a' is already on line 1" "$tmp/e2" &&
   [ $r3 = 1 ] && grep -q "bad3.txt:1: unknown camera option 'color=red'" "$tmp/e3"; then
    ok "a bad cameras file is refused naming the file and line"
else
    notok "a bad cameras file is refused naming the file and line" "$(cat "$tmp/e1" "$tmp/e2" "$tmp/e3")"
fi

# --- MQTT: a real mosquitto, restarted during the run ----------------------------------
mp=$(free_port)
mkdir -p "$tmp/mq"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n' "$mp" "$tmp/mq" > "$tmp/mq/m.conf"
mosquitto -c "$tmp/mq/m.conf" > "$tmp/mq/log1" 2>&1 &
mq=$!; pids="$pids $mq"
sleep 0.5
mosquitto_sub -h 127.0.0.1 -p "$mp" -q 1 -c -i arnet-test-sub -t 'arnet/#' -v > "$tmp/mq/got.txt" 2> /dev/null &
sub=$!; pids="$pids $sub"
sleep 0.5
ff -f lavfi -i "testsrc2=size=64x48:rate=10" -frames:v 96 -c:v libx264 -pix_fmt yuv420p "$tmp/mq.mkv"
Wbg --json --threshold 0 --min-on 1 --window 1 --scores --realtime --id gate --mqtt "mqtt://127.0.0.1:$mp" \
    "$tmp/mq.mkv" > "$tmp/mq/sent.json" 2> "$tmp/mq/err" &
w=$!
wait_for "$tmp/mq/sent.json" '"start"' 30
kill $mq; wait $mq 2> /dev/null
sleep 2
mosquitto -c "$tmp/mq/m.conf" > "$tmp/mq/log2" 2>&1 &
mq=$!; pids="$pids $mq"
wait $w
rc=$?
sleep 1
if [ $rc -eq 0 ] && out=$("$py" - "$tmp/mq/sent.json" "$tmp/mq/got.txt" << 'EOF' 2>&1
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
got = {}
for line in open(sys.argv[2]):
    topic, _, payload = line.rstrip("\n").partition(" ")
    e = json.loads(payload)
    assert topic == "arnet/gate/" + e["event"].replace(" ", "_"), (topic, e)
    got[json.dumps(e, sort_keys=True)] = 1
want = [e for e in sent if e["event"] in ("start", "end", "score")]
missing = [e for e in want if json.dumps(e, sort_keys=True) not in got]
assert not missing, ("not received", missing)
assert [e["event"] for e in sent].count("score") == 6, sent
print(len(want))
EOF
); then
    ok "MQTT: every alarm start, end and clip score received ($out events) across a broker restart"
else
    notok "MQTT across a broker restart" "rc $rc; ${out:-}; $(cat "$tmp/mq/err" "$tmp/mq/sent.json" "$tmp/mq/got.txt")"
fi
kill $sub $mq 2> /dev/null

# no broker at all: the queue is bounded, the run ends, the losses are counted
np=$(free_port)
t=$(now)
W --json --threshold 0 --min-on 1 --window 1 --scores --mqtt "mqtt://127.0.0.1:$np" --mqtt-queue 2 \
    "$tmp/c2.mkv" > "$tmp/mq/none.json" 2> "$tmp/mq/none.err"
rc=$? el=$(ms_since "$t")
if [ $rc -eq 1 ] && [ "$(grep -c . "$tmp/mq/none.json")" = 4 ] &&
   grep -q "mqtt: 2 events sent, 0 acknowledged, 2 not acknowledged, 2 dropped (queue full)" "$tmp/mq/none.err"; then
    ok "MQTT with no broker: 2 queued (--mqtt-queue 2), 2 dropped and counted, exit 1 ($el ms)"
else
    notok "MQTT with no broker: a bounded queue" "rc $rc; $(cat "$tmp/mq/none.json" "$tmp/mq/none.err")"
fi

# --- SIGTERM for train and extract: a checkpoint or nothing, no lock left ----------------
"$arnet" train --train "$tmp/syn/train.txt" --out "$tmp/t.arnet" --iterations 1000000 --seed 1 \
    --batch-normal 4 --batch-anomalous 4 --quiet > /dev/null 2> "$tmp/t.err" &
w=$!
sleep 4
stop $w TERM; set -- $st $el
if [ "$1" = 143 ] && [ ! -e "$tmp/t.arnet.lock" ] &&
   { { [ -f "$tmp/t.arnet" ] && grep -q "interrupted after step [0-9]* (SIGTERM)" "$tmp/t.err" &&
       "$arnet" train --resume "$tmp/t.arnet" --iterations 1 --quiet > /dev/null 2>&1; } ||
     { [ ! -e "$tmp/t.arnet" ] && ! grep -q "saved" "$tmp/t.err"; }; }; then
    ok "train under SIGTERM: 143, a checkpoint --resume takes, no lock left ($2 ms)"
else
    notok "train under SIGTERM" "status $1 after $2 ms; $(ls "$tmp"; cat "$tmp/t.err")"
fi
"$arnet" extract --extractor "$x" --out "$tmp/ex" "$tmp/good.mp4" "$tmp/c2.mkv" > /dev/null 2> "$tmp/x.err" &
w=$!; wait_fd $w good.mp4 60
stop $w TERM; set -- $st $el
if [ "$1" = 143 ] && [ "$2" -lt 2000 ] && ! ls "$tmp/ex" 2> /dev/null | grep -q "tmp\|lock"; then
    ok "extract under SIGTERM: 143 in $2 ms, nothing partial"
else
    notok "extract under SIGTERM" "status $1 after $2 ms; $(ls -a "$tmp/ex"; cat "$tmp/x.err")"
fi
finish
