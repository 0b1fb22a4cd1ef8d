#!/bin/sh
# check_shards.sh -- `arnet extract` over many tasks at once, as a Slurm job
# array runs it, with real processes and real files (no Slurm needed): the
# plan made once and checked by every task (a changed list is refused,
# naming the video), tasks of every shard started together with a second
# task on one shard and a whole-plan task with --jobs 2, a SIGKILLed task
# whose claims are taken over, another machine's claim (live, then past its
# lease), a video that always fails (retry limit), a file that is not ours,
# --status after all that, and the merged training manifest trained and
# evaluated.  Writes TAP.
# usage: check_shards.sh ARNET_EXE SOURCE_ROOT
set -u
arnet=$1 src=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/# /'; }
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

if ! "$arnet" extract --help | grep -q -- "--status"; then notok "extract --help names --status"; finish; fi
if ! command -v ffmpeg > /dev/null; then
    echo "1..0 # SKIP the ffmpeg program is not installed (apt-get install ffmpeg)"; exit 0
fi
if ! "$py" -c 'import numpy, torch' 2> /dev/null; then
    echo "1..0 # SKIP /usr/bin/python3 lacks numpy or torch (python3-torch) for the I3D weights"; exit 0
fi
if "$arnet" extract --extractor x --out "$tmp/o" "$tmp/none.mp4" 2>&1 | grep -q "built without video decoding"; then
    echo "1..0 # SKIP this arnet is built without FFmpeg (-Dvideo)"; exit 0
fi

x=$tmp/i3d.arnet
if ! out=$("$py" "$src/tests/reference/i3d_torch.py" weights --out "$tmp/w.pt" --seed 3 2>&1 &&
           "$arnet" import i3d "$tmp/w.pt" --out "$x" 2>&1); then
    notok "random I3D weights converted to an extractor file" "$out"; finish
fi
rm -f "$tmp/w.pt"

# Six one-clip videos (16 or 17 frames) and one that never decodes.
v=$tmp/videos
mkdir -p "$v"
for i in 1 2 3 4 5 6; do
    ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=48x32:rate=25" -frames:v $((15 + i % 2 + 1)) \
        -c:v libx264 -pix_fmt yuv420p "$v/v$i.mp4" || { notok "ffmpeg makes test videos"; finish; }
done
printf 'not a video' > "$v/broken.mp4"
# Labelled: anomalous ones with ground truth ranges (evaluation needs them).
{
    echo "# video label ground-truth"
    echo "$v/v1.mp4 1 2-10"; echo "$v/v2.mp4 0"; echo "$v/v3.mp4 1 0-15"
    echo "$v/v4.mp4 0 -"; echo "$v/v5.mp4 1 4-8,12-14"; echo "$v/v6.mp4 0"
    echo "$v/broken.mp4 0"
} > "$tmp/labels.txt"
d=$tmp/feats

# --- the plan: once, then checked ----------------------------------------------------
if out=$("$arnet" extract --plan --shards 3 --extractor "$x" --labels "$tmp/labels.txt" --out "$d" 2>&1) &&
   grep -q "^shards	3$" "$d/arnet-extract/plan" && [ "$(grep -c '^video	' "$d/arnet-extract/plan")" = 7 ]; then
    ok "--plan --shards 3 writes the plan (7 videos, 3 shards)"
else
    notok "--plan writes the plan" "$out"
fi
if out=$("$arnet" extract --plan --shards 3 --extractor "$x" --labels "$tmp/labels.txt" --out "$d" 2>&1); then
    ok "the same plan again is accepted"
else
    notok "the same plan again is accepted" "$out"
fi
ls "$v"/*.mp4 > "$tmp/list.txt"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=48x32:rate=25" -frames:v 16 -c:v libx264 "$v/late.mp4"
ls "$v"/*.mp4 > "$tmp/list2.txt"
out=$("$arnet" extract --out "$d" --shard 2 --list "$tmp/list2.txt" 2>&1)
if [ $? -eq 1 ] && printf '%s' "$out" | grep -q "late.mp4 is in this task's list but not in the plan"; then
    ok "a task whose list changed (a video added) is refused, naming the video"
else
    notok "a changed list is refused" "$out"
fi
out=$("$arnet" extract --out "$d" --shard 2 --crops 10 2>&1)
if [ $? -eq 1 ] && printf '%s' "$out" | grep -q "crops: 10 here, 1 in the plan"; then
    ok "a task with other settings is refused, naming the setting"
else
    notok "a task with other settings is refused" "$out"
fi
out=$(SLURM_ARRAY_TASK_ID=4 "$arnet" extract --out "$d" 2>&1)
if [ $? -eq 1 ] && printf '%s' "$out" | grep -q "past the plan's 3 shards"; then
    ok "SLURM_ARRAY_TASK_ID past the plan's shards is refused"
else
    notok "SLURM_ARRAY_TASK_ID past the plan's shards is refused" "$out"
fi

# UCF-Crime's published test annotations, converted as docs/video.md says,
# plan as a labelled list (290 videos, 4 shards; the videos need not exist
# to plan).
awk '{ n = $2 == "Normal"; d = n ? "Testing_Normal_Videos_Anomaly" : $2;
       g = n ? "-" : $3 "-" $4 ($5 >= 0 ? "," $5 "-" $6 : "");
       print "/data/UCF/" d "/" $1, n ? 0 : 1, g }' "$src/tests/data/ucf-crime/Temporal_Anomaly_Annotation.txt" > "$tmp/ucf.txt"
out=$("$arnet" extract --plan --shards 4 --extractor "$x" --labels "$tmp/ucf.txt" --out "$tmp/ucf" 2>&1)
st=$("$arnet" extract --status "$tmp/ucf" --quiet 2>&1)
if printf '%s' "$out" | grep -q "planned 290 videos in 4 shards" &&
   grep -q "^video	1	165-240	Abuse028_x264	/data/UCF/Abuse/Abuse028_x264.mp4$" "$tmp/ucf/arnet-extract/plan" &&
   printf '%s' "$st" | grep -q "^total: 290 videos: 0 done.* 290 missing"; then
    ok "UCF-Crime's annotations, converted by the documented awk line, plan as a labelled list"
else
    notok "UCF-Crime's annotations plan as a labelled list" "$out
$st"
fi

# --- a task killed mid-run: its claims stay behind ----------------------------------------
# The plan's order: broken, v1 .. v6; shard 1 is broken, v3, v6; shard 2
# v1, v4; shard 3 v2, v5.
SLURM_ARRAY_TASK_ID=1 "$arnet" extract --out "$d" --quiet > "$tmp/killed.log" 2>&1 &
pid=$!
i=0
while [ ! -f "$d/arnet-extract/videos/v3.claim" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
if [ -f "$d/arnet-extract/shard-1.claim" ]; then ok "a SIGKILLed task leaves its shard claim"; else notok "a SIGKILLed task leaves its shard claim" "$(ls -R "$d")"; fi

# Another machine's claim on v5: live (lease ahead) for now.
now=$(date +%s)
printf 'host othernode\npid 1\ntoken othernode.1.x\nstarted %s\nrenewed %s\nlease 600\nexpires %s\n' \
    "$now" "$now" $((now + 600)) > "$d/arnet-extract/videos/v5.claim"
# A file that is not ours where v6's output goes.
: > "$d/v6.npy"

# --- every shard at once, a second task on shard 2, a whole-plan task with 2 jobs ----------
"$arnet" extract --out "$d" --shard 1 > "$tmp/t1.log" 2>&1 & p1=$!
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=1 "$arnet" extract --out "$d" > "$tmp/t2.log" 2>&1 & p2=$!
"$arnet" extract --out "$d" --shard 2/3 --list "$tmp/list.txt" > "$tmp/t2b.log" 2>&1 & p2b=$!
"$arnet" extract --out "$d" --shard 3 --labels "$tmp/labels.txt" > "$tmp/t3.log" 2>&1 & p3=$!
"$arnet" extract --out "$d" --jobs 2 > "$tmp/all.log" 2>&1 & pa=$!
wait $p1; r1=$?; wait $p2; r2=$?; wait $p2b; r2b=$?; wait $p3; r3=$?; wait $pa; ra=$?
logs="$tmp/t1.log $tmp/t2.log $tmp/t2b.log $tmp/t3.log $tmp/all.log"
all=$(cat $logs)
if grep -q "taking over .*shard-1.claim" "$tmp/t1.log"; then
    ok "the killed task's shard claim is taken over (same host, process gone)"
else
    notok "the killed task's shard claim is taken over" "$(cat "$tmp/t1.log")"
fi
if cat $logs | grep -q "shard 2 of .* is being run by host"; then
    ok "a second task on one shard is refused while the first runs"
elif [ "$(cat "$tmp/t2.log" "$tmp/t2b.log" | grep -c ' -> ')" -le 2 ]; then
    ok "a second task on one shard extracted nothing twice (it ran after the first)"
else
    notok "a second task on one shard is refused" "$all"
fi
# Each video written once in all: every ' -> ' line names a different output.
writes=$(cat $logs | grep ' -> ' | sed 's/.* -> \([^:]*\):.*/\1/' | sort)
if [ "$(printf '%s\n' "$writes" | grep -c .)" = 4 ] && [ -z "$(printf '%s\n' "$writes" | uniq -d)" ]; then
    ok "no video extracted twice: 4 written (v1-v4), each by one task"
else
    notok "no video extracted twice" "$writes
$all"
fi
if grep -q "v5.mp4: being extracted by host othernode" "$tmp/t3.log" "$tmp/all.log"; then
    ok "another machine's claim within its lease is left alone"
else
    notok "another machine's claim within its lease is left alone" "$all"
fi
if printf '%s' "$all" | grep -q "v6.npy exists but has no record"; then
    ok "an empty file in an output's place is refused, not counted as done"
else
    notok "an empty file in an output's place is refused" "$all"
fi
if printf '%s' "$all" | grep -q "broken.mp4: cannot open"; then ok "the broken video fails with its reason"; else notok "the broken video fails with its reason" "$all"; fi

# --- status after the kill, the failure, the foreign file, the live claim -------------------
out=$("$arnet" extract --status "$d"); rc=$?
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "^failed	$v/broken.mp4	[0-9] attempts*	cannot open" &&
   printf '%s\n' "$out" | grep -q "^running	$v/v5.mp4	host othernode" &&
   printf '%s\n' "$out" | grep -q "^refused	$v/v6.mp4	" &&
   [ "$(printf '%s\n' "$out" | grep -c '^done	')" = 4 ] &&
   printf '%s\n' "$out" | grep -q "^shard 2/3: 2 videos: 2 done.*(complete)" &&
   printf '%s\n' "$out" | grep -q "^total: 7 videos: 4 done, 1 failed, 1 running, 1 missing"; then
    ok "--status: every video's state, per shard, exit status 1 while incomplete"
else
    notok "--status lists every video's state" "status $rc
$out"
fi

# The other machine's lease runs out; the foreign file is removed; a
# requeued shard 3 finishes v5, shard 1 (submitted again on its own, as
# sbatch --array=1 would: SLURM_ARRAY_TASK_COUNT=1) v6.
sed -i "s/^expires .*/expires $((now - 5))/" "$d/arnet-extract/videos/v5.claim"
rm -f "$d/v6.npy"
out=$(SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=1 "$arnet" extract --out "$d" 2>&1); rc3=$?
out=$out$(SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=1 "$arnet" extract --out "$d" 2>&1)
if [ $rc3 -eq 0 ] && [ -f "$d/v5.npy" ] && [ -f "$d/v6.npy" ] && printf '%s' "$out" | grep -q "taking over .*v5.claim: host othernode"; then
    ok "an expired claim of another machine is taken over; requeued tasks finish their shards"
else
    notok "requeued tasks finish their shards" "$out"
fi
# The broken video: tried 3 times, then given up.
SLURM_ARRAY_TASK_ID=1 "$arnet" extract --out "$d" --quiet > /dev/null 2>&1
out=$(SLURM_ARRAY_TASK_ID=1 "$arnet" extract --out "$d" 2>&1)
if [ $? -eq 1 ] && printf '%s' "$out" | grep -q "broken.mp4: failed 3 times (cannot open.*not tried again"; then
    ok "a video that always fails is given up after --max-attempts (3)"
else
    notok "a video that always fails is given up" "$out"
fi
if ls "$d/arnet-extract/videos" | grep -q '\.claim'; then notok "no claim left after the runs" "$(ls "$d/arnet-extract/videos")"; else ok "no claim left after the runs"; fi

# --- the training manifest, merged over shards ----------------------------------------------
out=$("$arnet" extract --status "$d" --manifest "$d/train.txt" 2>&1)
if [ $? -eq 1 ] && [ ! -f "$d/train.txt" ] && printf '%s' "$out" | grep -q "not complete (--partial"; then
    ok "--manifest refuses an incomplete run"
else
    notok "--manifest refuses an incomplete run" "$out"
fi
"$arnet" extract --status "$d" --quiet --partial --manifest "$d/train.txt" > /dev/null 2>&1
want="v1.npy 1 2-10
v2.npy 0 -
v3.npy 1 0-15
v4.npy 0 -
v5.npy 1 4-8,12-14
v6.npy 0 -"
got=$(grep -v '^#' "$d/train.txt" 2>&1)
if [ "$got" = "$want" ]; then ok "--partial --manifest writes the six labelled videos"; else notok "--manifest writes the labelled videos" "$got"; fi
if out=$("$arnet" train --train "$d/train.txt" --out "$tmp/m.arnet" --iterations 2 --seed 1 \
             --batch-normal 2 --batch-anomalous 2 2>&1) &&
   out=$("$arnet" eval --model "$tmp/m.arnet" --test "$d/train.txt" 2>&1); then
    ok "the merged manifest trains and evaluates"
else
    notok "the merged manifest trains and evaluates" "$out"
fi
# A record naming a flow file beside the output (two streams written apart,
# as --split-streams does) gives the manifest's RGB + flow pair.
mkdir -p "$d/flow" && cp "$d/v2.npy" "$d/flow/v2.npy" && echo "flow flow/v2.npy" >> "$d/arnet-extract/videos/v2.done"
"$arnet" extract --status "$d" --quiet --partial --manifest "$d/pairs.txt" > /dev/null 2>&1
"$arnet" extract --status "$d" --quiet --partial --manifest "$tmp/abs.txt" > /dev/null 2>&1
if grep -qx "v2.npy+flow/v2.npy 0 -" "$d/pairs.txt" && grep -qx "v1.npy 1 2-10" "$d/pairs.txt" &&
   grep -qx "/.*/feats/v2.npy+/.*/feats/flow/v2.npy 0 -" "$tmp/abs.txt"; then
    ok "a recorded flow file gives an rgb+flow pair line (relative in DIR, absolute outside)"
else
    notok "a recorded flow file gives an rgb+flow pair line" "$(cat "$d/pairs.txt" "$tmp/abs.txt" 2>&1)"
fi
rm -f "$d/flow/v2.npy"
out=$("$arnet" extract --status "$d" 2>&1)
if printf '%s\n' "$out" | grep -q "^missing	$v/v2.mp4	.*flow/v2.npy"; then
    ok "a missing flow file makes the video missing again"
else
    notok "a missing flow file makes the video missing again" "$out"
fi
sed -i '/^flow /d' "$d/arnet-extract/videos/v2.done"

# --- a task stopped past its lease loses its claim and publishes nothing ------------------
# (--lease 2: renewed every second; SIGSTOP stops the renewals too.)
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc=size=48x32:rate=25" -frames:v 64 -c:v libx264 \
    -pix_fmt yuv420p "$v/long.mp4"
l=$tmp/lease
"$arnet" extract --plan --lease 2 --extractor "$x" --out "$l" "$v/long.mp4" > /dev/null 2>&1
"$arnet" extract --out "$l" > "$tmp/stopped.log" 2>&1 &
pa=$!
i=0
while [ ! -f "$l/arnet-extract/videos/long.claim" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -STOP $pa
sleep 4
out=$("$arnet" extract --out "$l" 2>&1); rb=$?
kill -CONT $pa
wait $pa; ra=$?
if [ $rb -eq 0 ] && printf '%s' "$out" | grep -q "taking over .*long.claim" &&
   grep -q "long.mp4: another task took over this video's claim" "$tmp/stopped.log" &&
   grep -q "^pid " "$l/arnet-extract/videos/long.done" &&
   [ "$(sed -n 's/^pid //p' "$l/arnet-extract/videos/long.done")" != "$pa" ] &&
   "$arnet" extract --status "$l" > /dev/null; then
    ok "a task stopped past its lease loses the video to another and does not publish it"
else
    notok "a task stopped past its lease loses its claim" "B: $rb $out
A: $ra $(cat "$tmp/stopped.log")"
fi

# A plan's numbers are read back strictly: a sign or a wrapped value is a
# malformed line, not 2^64 - 3 (the list itself is guarded by its digest).
for edit in 's/^shards\t3$/shards\t-3/' 's/^videos\t7$/videos\t-3/'; do
    rm -rf "$tmp/wrap"; mkdir -p "$tmp/wrap"
    cp -r "$d/arnet-extract" "$tmp/wrap/"
    sed -i "$edit" "$tmp/wrap/arnet-extract/plan"
    out=$("$arnet" extract --status "$tmp/wrap" 2>&1); rc=$?
    if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q "plan:[0-9]*: malformed plan line\|plan: incomplete plan"; then
        ok "a plan edited to '${edit#s/}' is refused naming its line"
    else
        notok "a plan edited to '${edit#s/}' is refused (exit $rc)" "$out"
    fi
done

# Everything the tasks wrote matches one plain run, byte for byte.
"$arnet" extract --extractor "$x" --out "$tmp/one" --quiet "$v/v2.mp4" "$v/v5.mp4" > /dev/null 2>&1
if cmp -s "$tmp/one/v2.npy" "$d/v2.npy" && cmp -s "$tmp/one/v5.npy" "$d/v5.npy"; then
    ok "the tasks' outputs equal one plain run's"
else
    notok "the tasks' outputs equal one plain run's"
fi
finish
