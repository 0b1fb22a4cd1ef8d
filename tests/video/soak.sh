#!/bin/sh
# soak.sh -- `arnet watch` for a long time against a real RTSP server on
# 127.0.0.1 (tests/video/rtsp_server.py, Debian's gst-rtsp-server) serving
# OpenCV's vtest.avi in a loop, with events to a real mosquitto broker and
# alarm snapshots; the RTSP server is killed and restarted every
# KILL_EVERY seconds and the broker once.  Samples the watcher's VmRSS and
# open descriptors (/proc/PID) every 10 s and checks at the end that every
# alarm start has its end and every "stream lost" its "stream back".
# Not part of the test suite (it runs for DURATION seconds; docs/video.md
# has the figures of a 30-minute run).
# usage: soak.sh ARNET_EXE SOURCE_ROOT EXTRACTOR MODEL WORKDIR [DURATION [FPS]]
set -u
arnet=$1 src=$2 x=$3 m=$4 dir=$5 duration=${6:-1800} fps=${7:-5}
kill_every=${KILL_EVERY:-420}
py=/usr/bin/python3
mkdir -p "$dir/snap"
cd "$dir" || exit 1
vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
# vtest.avi (795 frames) looped to cover the run, H.264 at FPS frames a second
loops=$(( duration * fps / 795 + 2 ))
if [ ! -s soak.mkv ]; then
    ffmpeg -nostdin -v error -y -stream_loop "$loops" -i "$vtest" -vf "setpts=N/($fps*TB)" -r "$fps" \
        -c:v libx264 -preset veryfast -g $((2 * fps)) -pix_fmt yuv420p soak.mkv || exit 1
fi
port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rport=$(port) mport=$(port)
start_rtsp() { rm -f rport; "$py" "$src/tests/video/rtsp_server.py" "$dir/soak.mkv" "$dir/rport" --port "$rport" >> rtsp.log 2>&1 & echo $! > rtsp.pid; }
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n' "$mport" "$dir" > mosq.conf
start_mosq() { mosquitto -c mosq.conf >> mosq.log 2>&1 & echo $! > mosq.pid; }
start_rtsp
start_mosq
sleep 1
mosquitto_sub -h 127.0.0.1 -p "$mport" -q 1 -c -i soak-sub -t 'arnet/#' -v > mqtt.txt 2> sub.err & sub=$!
while [ ! -s rport ]; do sleep 0.2; done
"$arnet" watch --extractor "$x" --model "$m" --id soak --json --threshold 0 --min-on 1 --window 1 \
    --timeout 5 --reconnect-max 4 --heartbeat 60 --status 60 --transport tcp \
    --mqtt "mqtt://127.0.0.1:$mport" --snapshots "$dir/snap" "rtsp://127.0.0.1:$rport/cam" \
    > events.jsonl 2> watch.err &
w=$!
echo "time,rss_kb,fds,threads,load1" > samples.csv
t0=$(date +%s) next_kill=$kill_every broker_done=0
while :; do
    now=$(( $(date +%s) - t0 ))
    [ $now -ge "$duration" ] && break
    kill -0 $w 2> /dev/null || { echo "soak: the watcher died" >&2; break; }
    rss=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' /proc/$w/status)
    thr=$(sed -n 's/^Threads:[^0-9]*\([0-9]*\).*/\1/p' /proc/$w/status)
    fds=$(ls /proc/$w/fd | wc -l)
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$now,$rss,$fds,$thr,$load" >> samples.csv
    if [ $now -ge $next_kill ]; then
        kill "$(cat rtsp.pid)"; sleep 5; start_rtsp
        next_kill=$((next_kill + kill_every))
    fi
    if [ $broker_done = 0 ] && [ $now -ge $((duration / 2)) ]; then
        kill "$(cat mosq.pid)"; sleep 5; start_mosq; broker_done=1
    fi
    sleep 10
done
kill -TERM $w; wait $w; echo "watch exit status $?" >> watch.err
sleep 2
kill $sub "$(cat rtsp.pid)" "$(cat mosq.pid)" 2> /dev/null
"$py" - "$dir" << 'PYEOF'
import csv, json, sys
d = sys.argv[1]
ev = [json.loads(l) for l in open(d + "/events.jsonl")]
kinds = {}
for e in ev:
    kinds[e["event"]] = kinds.get(e["event"], 0) + 1
rows = list(csv.DictReader(open(d + "/samples.csv")))
rss = [int(r["rss_kb"]) for r in rows]
fds = [int(r["fds"]) for r in rows]
n = len(rows)
first = rss[n // 10: n // 5] or rss
last = rss[-(n // 10) or -1:]
print("events:", kinds)
print("samples: %d over %s s" % (n, rows[-1]["time"]))
print("VmRSS kB: min %d max %d; mean of the 2nd tenth %.0f, of the last tenth %.0f" %
      (min(rss), max(rss), sum(first) / len(first), sum(last) / len(last)))
print("fds: min %d max %d, first %d last %d" % (min(fds), max(fds), fds[0], fds[-1]))
loads = [float(r["load1"]) for r in rows]
print("load average (1 min): min %.1f, mean %.1f, max %.1f" % (min(loads), sum(loads) / n, max(loads)))
# pairing: start/end alternate, lost/back alternate
alarm = lost = 0
bad = []
for e in ev:
    k = e["event"]
    if k == "start":
        bad += ["start while on"] if alarm else []; alarm = 1
    elif k == "end":
        bad += ["end while off"] if not alarm else []; alarm = 0
    elif k == "stream lost":
        bad += ["lost while lost"] if lost else []; lost = 1
    elif k == "stream back":
        bad += ["back while up"] if not lost else []; lost = 0
print("pairing:", "every start has its end and every loss its return" if not bad and not alarm and not lost
      else "BROKEN %s (alarm open %d, lost %d)" % (bad[:5], alarm, lost))
got = {}
for line in open(d + "/mqtt.txt"):
    topic, _, payload = line.partition(" ")
    try:
        e = json.loads(payload)
    except ValueError:
        continue
    got[(e["event"], e["time"])] = 1
want = [(e["event"], e["time"]) for e in ev if e["event"] in ("start", "end", "stream lost", "stream back")]
missing = [w for w in want if w not in got]
print("mqtt: %d of %d alarm and stream events received%s" % (len(want) - len(missing), len(want),
      "" if not missing else ", missing %s" % missing[:5]))
PYEOF
tail -3 watch.err
