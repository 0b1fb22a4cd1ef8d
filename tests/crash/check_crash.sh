#!/bin/sh
# check_crash.sh -- crash consistency of `arnet train --save-every 1`: runs
# are killed with SIGKILL at random moments, and after every kill the output
# must load (arnet info) and resuming from it (--resume) must end with the
# very bytes of an uninterrupted run; the temporary a kill mid-save leaves
# must be gone after the resumed run's first save.  Half the runs go
# through tests/crash/slow_io.so (LD_PRELOAD: every file write and fsync sleeps
# 25 ms), so that many of their kills land between a save's temporary and
# its rename; at least one must (else the test did not test mid-save).
# Writes TAP.
# usage: check_crash.sh ARNET_EXE SLOW_IO_SO
# environment: CRASH_RUNS (default 40), CRASH_SEED (default: the time;
# printed, so a failure can be replayed), CRASH_STEPS (default 8).
set -u
arnet=$1 slow=$2
runs=${CRASH_RUNS:-40}
seed=${CRASH_SEED:-$(date +%s)}
steps=${CRASH_STEPS:-8}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/# /'; }

# A kill does not depend on the disk: tmpfs keeps the runs short.
base=${TMPDIR:-}
[ -z "$base" ] && { [ -w /dev/shm ] && base=/dev/shm || base=/tmp; }
tmp=$(mktemp -d "$base/arnet-crash-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "# CRASH_SEED=$seed CRASH_RUNS=$runs CRASH_STEPS=$steps in $tmp"

now() { date +%s.%N; }
# How many temporaries ("<name>.tmp.<host>.<pid>.<n>") folder $1 holds.
temps_in() {
    c=0
    for f in "$1"/*.tmp.*; do [ -e "$f" ] && c=$((c + 1)); done
    echo "$c"
}
# The i-th random kill delay in seconds, uniform in [0, max).
delay() { awk -v s="$seed" -v i="$1" -v max="$2" 'BEGIN { srand(s + 7919 * i); printf "%.6f", rand() * max }'; }

d=$tmp/data
if ! "$arnet" synth --out "$d" --scale 0.1 --feature-dim 32 --seed 3 >/dev/null 2>"$tmp/err"; then
    notok "synth writes the data" "$(cat "$tmp/err")"
    echo "1..$n"
    exit 1
fi
train="$arnet train --train $d/train.txt --batch-normal 4 --batch-anomalous 4 --seed 2 --lr 1e-3 --iterations $steps --quiet"

# The uninterrupted runs, timed: the kill moments spread over their length.
t0=$(now)
$train --out "$tmp/ref.arnet" --save-every 1 2>"$tmp/err" || notok "reference run" "$(cat "$tmp/err")"
t1=$(now)
LD_PRELOAD=$slow $train --out "$tmp/ref-slow.arnet" --save-every 1 2>"$tmp/err" ||
    notok "reference run under slow_io" "$(cat "$tmp/err")"
t2=$(now)
if cmp -s "$tmp/ref.arnet" "$tmp/ref-slow.arnet"; then
    ok "the slowed run writes the same bytes"
else
    notok "the slowed run writes the same bytes"
fi
fast_len=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
slow_len=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.6f", b - a }')
echo "# an uninterrupted run takes ${fast_len} s, ${slow_len} s slowed"

killed=0 mid_save=0 no_file=0 finished=0 bad=0
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    out=$tmp/run$i/model.arnet
    mkdir "$tmp/run$i"
    if [ $((i % 2)) -eq 0 ]; then pre=$slow len=$slow_len; else pre='' len=$fast_len; fi
    wait_s=$(delay "$i" "$len")
    LD_PRELOAD=$pre $train --out "$out" --save-every 1 >/dev/null 2>&1 &
    pid=$!
    sleep "$wait_s"
    if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
    wait "$pid" 2>/dev/null
    temps=$(temps_in "$tmp/run$i")
    [ "$temps" -gt 0 ] && mid_save=$((mid_save + 1))
    what="run $i (killed after ${wait_s} s${pre:+, slowed}, $temps temporary)"
    if [ -e "$out" ]; then
        if ! "$arnet" info "$out" >"$tmp/info" 2>&1; then
            notok "$what: the output loads" "$(cat "$tmp/info")"
            bad=$((bad + 1))
            continue
        fi
        "$arnet" train --train "$d/train.txt" --resume "$out" --iterations "$steps" --out "$out" \
            --save-every 1 --quiet >/dev/null 2>"$tmp/err"
    else
        no_file=$((no_file + 1)) # killed before the first save: start again
        $train --out "$out" --save-every 1 >/dev/null 2>"$tmp/err"
    fi
    rc=$?
    if [ $rc -ne 0 ]; then
        notok "$what: the resumed run completes" "$(cat "$tmp/err")"
        bad=$((bad + 1))
    elif ! cmp -s "$out" "$tmp/ref.arnet"; then
        notok "$what: resuming gives the bytes of an uninterrupted run"
        bad=$((bad + 1))
    elif [ "$(temps_in "$tmp/run$i")" -gt 0 ]; then
        notok "$what: the killed run's temporary is removed by the next save" "$(ls "$tmp/run$i")"
        bad=$((bad + 1))
    fi
done
echo "# $runs runs: $killed killed ($mid_save mid-save, $no_file before the first save), $finished finished first"
if [ "$bad" -eq 0 ]; then
    ok "every killed run's output loads and resumes to the uninterrupted run's bytes ($runs runs)"
fi
if [ "$mid_save" -gt 0 ]; then
    ok "kills landed mid-save ($mid_save of $runs)"
else
    notok "kills landed mid-save (none of $runs: the test did not test mid-save)"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
