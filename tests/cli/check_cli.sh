#!/bin/sh
# check_cli.sh -- the arnet program end to end on real files: synth, train,
# info, eval (table, JSON, plots), score (text, JSON, .npy), calibrate, and
# the errors a user makes.  Writes TAP.
# usage: check_cli.sh ARNET_EXE SOURCE_ROOT
set -u
arnet=$1 src=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/# /'; }
check() { # check NAME COMMAND...: passes when COMMAND succeeds
    name=$1; shift
    if out=$("$@" 2>&1); then ok "$name"; else notok "$name" "$out"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Python for parsing JSON: any interpreter will do (stdlib only).
py=$(command -v python3 || command -v /usr/bin/python3 || true)

# --- help ------------------------------------------------------------------
check "arnet --help lists every command" sh -c "'$arnet' --help | grep -q calibrate"
for cmd in demo train eval score calibrate info synth import; do
    check "arnet $cmd --help" sh -c "'$arnet' $cmd --help | grep -q usage"
done
"$arnet" frobnicate >/dev/null 2>&1
if [ $? -eq 2 ]; then ok "unknown command exits 2"; else notok "unknown command exits 2"; fi

# --- a small data set and model -----------------------------------------------
d=$tmp/data m=$tmp/model.arnet
check "synth writes a small set" "$arnet" synth --out "$d" --scale 0.1 --feature-dim 24 --seed 3
check "train writes a model" "$arnet" train --train "$d/train.txt" --out "$m" \
    --iterations 30 --batch-normal 4 --batch-anomalous 4 --seed 2 --lr 1e-3 --threads 1
if [ ! -s "$m" ]; then
    notok "model file exists" "training did not write $m; the remaining checks need it"
    echo "1..$n"
    exit 1
fi
ok "model file exists"

# --- info ----------------------------------------------------------------------
check "info shows dimensions and training settings" sh -c \
    "'$arnet' info '$m' > '$tmp/info.txt' && grep -q 24 '$tmp/info.txt' && grep -qi 'format' '$tmp/info.txt' && grep -qi 'dmil' '$tmp/info.txt'"
"$arnet" info "$d/train.txt" > "$tmp/out" 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "train.txt" "$tmp/err"; then ok "info on a non-model file fails naming it"; else notok "info on a non-model file fails naming it" "$(cat "$tmp/err")"; fi

# --- eval ------------------------------------------------------------------------
check "eval prints a table" sh -c "'$arnet' eval --model '$m' --test '$d/test.txt' | grep -q 'ROC AUC'"
if [ -n "$py" ]; then
    "$arnet" eval --model "$m" --test "$d/test.txt" --json > "$tmp/eval.json" 2> "$tmp/err"
    check "eval --json has every field, values in range, one entry per video" "$py" -c '
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("auc", "ap", "pr_auc", "far", "auc_abnormal", "frames", "videos", "per_video"):
    assert k in r, k
for k in ("auc", "ap", "pr_auc", "far", "auc_abnormal"):
    assert 0.0 <= r[k] <= 1.0, (k, r[k])
n = sum(1 for l in open(sys.argv[2]) if l.strip() and not l.startswith("#"))
assert r["videos"] == n == len(r["per_video"]), (r["videos"], n)
assert r["frames"] == sum(v["frames"] for v in r["per_video"])
assert r["gt_rule"] == "truncate"
' "$tmp/eval.json" "$d/test.txt"
else
    n=$((n + 1)); echo "ok $n - eval --json # SKIP no Python to parse JSON"
fi
check "eval --plots writes one SVG per video and an index" sh -c "
    '$arnet' eval --model '$m' --test '$d/test.txt' --plots '$tmp/plots' >/dev/null &&
    test -s '$tmp/plots/index.html' &&
    test \$(ls '$tmp/plots' | grep -c '\\.svg\$') -eq \$(grep -vc '^#' '$d/test.txt') &&
    grep -q '<polyline' \$(ls '$tmp/plots'/*.svg | head -1)"
check "eval --gt-rule pad-last is recorded" sh -c \
    "'$arnet' eval --model '$m' --test '$d/test.txt' --gt-rule pad-last --json | grep -q '\"gt_rule\": \"pad-last\"'"
"$arnet" eval --model "$tmp/missing.arnet" --test "$d/test.txt" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "missing.arnet" "$tmp/err"; then ok "eval with a missing model names it"; else notok "eval with a missing model names it" "$(cat "$tmp/err")"; fi
"$arnet" eval --model "$m" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ]; then ok "eval without --test is a usage error"; else notok "eval without --test is a usage error"; fi

# --- score ------------------------------------------------------------------------
f1=$(ls "$d"/features/*.npy | head -1)
f2=$(ls "$d"/features/*.npy | tail -1)
check "score prints one line per clip" sh -c "
    '$arnet' score --model '$m' '$f1' > '$tmp/s.txt' &&
    head -1 '$tmp/s.txt' | grep -q '^# ' && test \$(grep -vc '^#' '$tmp/s.txt') -gt 0"
if [ -n "$py" ]; then
    check "score --json, --npy and text agree" sh -c "
        '$arnet' score --model '$m' --json '$f1' '$f2' > '$tmp/s.json' &&
        '$arnet' score --model '$m' --npy '$tmp/npyout' '$f1' '$f2' 2>/dev/null &&
        '$arnet' score --model '$m' '$f1' > '$tmp/s1.txt' &&
        '$py' -c '
import json, struct, sys, os
j = json.load(open(sys.argv[1]))
assert len(j[\"videos\"]) == 2
text = [float(l.split()[1]) for l in open(sys.argv[3]) if not l.startswith(\"#\")]
v = j[\"videos\"][0]
assert v[\"clips\"] == len(v[\"scores\"]) == len(text)
assert all(abs(a - b) < 1e-6 for a, b in zip(text, v[\"scores\"]))
base = os.path.basename(sys.argv[4])[:-4]
raw = open(os.path.join(sys.argv[2], base + \".npy\"), \"rb\").read()
assert raw[:6] == b\"\\x93NUMPY\"
hl = struct.unpack(\"<H\", raw[8:10])[0]
vals = struct.unpack(\"<%df\" % v[\"clips\"], raw[10 + hl:])
assert all(abs(a - b) < 1e-6 for a, b in zip(vals, v[\"scores\"]))
assert all(0.0 <= s <= 1.0 for s in vals)
' '$tmp/s.json' '$tmp/npyout' '$tmp/s1.txt' '$f1'"
else
    n=$((n + 1)); echo "ok $n - score --json/--npy # SKIP no Python"
fi
"$arnet" synth --out "$tmp/other" --scale 0.05 --feature-dim 8 > /dev/null 2>&1
f8=$(ls "$tmp/other"/features/*.npy | head -1)
"$arnet" score --model "$m" "$f8" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "8 features" "$tmp/err"; then ok "score with the wrong feature size says so"; else notok "score with the wrong feature size says so" "$(cat "$tmp/err")"; fi
printf 'not a numpy file' > "$tmp/bad.npy"
"$arnet" score --model "$m" "$tmp/bad.npy" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "bad.npy" "$tmp/err"; then ok "score on a broken .npy names it"; else notok "score on a broken .npy names it" "$(cat "$tmp/err")"; fi
"$arnet" score --model "$m" --json --npy "$tmp/x" "$f1" > /dev/null 2>&1
if [ $? -eq 2 ]; then ok "score --json with --npy is a usage error"; else notok "score --json with --npy is a usage error"; fi
# Two inputs with one basename: both kept, the clashing ones prefixed with
# their index on the command line, and the summary says so.
mkdir -p "$tmp/a" "$tmp/b"
cp "$f1" "$tmp/a/x.npy"; cp "$f2" "$tmp/b/x.npy"
"$arnet" score --model "$m" --npy "$tmp/one-a.npy" "$tmp/a/x.npy" 2>/dev/null
"$arnet" score --model "$m" --npy "$tmp/one-b.npy" "$tmp/b/x.npy" 2>/dev/null
"$arnet" score --model "$m" --npy "$tmp/clash" "$tmp/a/x.npy" "$tmp/b/x.npy" "$f1" > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(ls "$tmp/clash" | wc -l)" -eq 3 ] &&
    cmp -s "$tmp/clash/0000-x.npy" "$tmp/one-a.npy" && cmp -s "$tmp/clash/0001-x.npy" "$tmp/one-b.npy" &&
    test -s "$tmp/clash/$(basename "$f1")" && grep -q "wrote 3 files" "$tmp/err" && grep -q "0001-x.npy" "$tmp/err"; then
    ok "score --npy DIR keeps inputs with the same basename apart (index prefix) and says so"
else
    notok "score --npy DIR keeps inputs with the same basename apart (index prefix) and says so" "exit $rc: $(ls "$tmp/clash" 2>&1) $(cat "$tmp/err")"
fi
"$arnet" score --model "$m" --npy "$tmp/one.npy" "$f1" "$f2" > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [ ! -e "$tmp/one.npy" ] && grep -q "$(basename "$f1")" "$tmp/err" && grep -q "$(basename "$f2")" "$tmp/err"; then
    ok "score --npy FILE.npy with several inputs is a usage error naming them, nothing written"
else
    notok "score --npy FILE.npy with several inputs is a usage error naming them, nothing written" "exit $rc: $(cat "$tmp/err")"
fi
# Hand-written .npy files ([2, 24] float32): one holding a NaN, one holding
# finite values so large that the scores overflow.
npy24() { # npy24 FIRST_VALUE OTHER_VALUES (4 bytes each, printf escapes)
    printf '\223NUMPY\001\000\166\000'
    printf "%-117s\n" "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 24), }"
    printf "$1"; i=1; while [ $i -lt 48 ]; do printf "$2"; i=$((i + 1)); done
}
npy24 '\000\000\300\177' '\000\000\000\000' > "$tmp/nan.npy"
npy24 '\377\377\177\177' '\377\377\177\177' > "$tmp/huge.npy"
"$arnet" score --model "$m" --json "$f1" "$tmp/nan.npy" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "nan.npy: .*NaN" "$tmp/err" && ! grep -qi "nan" "$tmp/out"; then
    ok "score on a .npy holding a NaN fails naming the file, no nan in the output"
else
    notok "score on a .npy holding a NaN fails naming the file, no nan in the output" "exit $rc: $(cat "$tmp/err" "$tmp/out")"
fi
"$arnet" score --model "$m" --json "$tmp/huge.npy" "$f1" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -le 1 ] && ! grep -Eqi "nan|inf" "$tmp/out" &&
    { [ -z "$py" ] || "$py" -c '
import json, sys
def bad(c): raise ValueError(c)
json.load(open(sys.argv[1]), parse_constant=bad)' "$tmp/out"; }; then
    ok "score --json never prints nan or inf (non-finite scores are null)"
else
    notok "score --json never prints nan or inf (non-finite scores are null)" "exit $rc: $(cat "$tmp/err" "$tmp/out")"
fi

# --- import ucf: events against the features ----------------------------------------
# $f1 as the features of every video; T from its scores.
mkdir -p "$tmp/ucf"
cp "$f1" "$tmp/ucf/Abuse028_x264.npy"; cp "$f1" "$tmp/ucf/Normal_Videos_003_x264.npy"
T=$("$arnet" score --model "$m" "$f1" | head -1 | awk '{ print $3 }')
frames=$((16 * T))
ucf() { # ucf LINE2 [options]: import a two-line annotation file
    l=$1; shift
    printf 'Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n%s\n' "$l" > "$tmp/ann.txt"
    rm -f "$tmp/ucf.txt"
    "$arnet" import ucf --annotations "$tmp/ann.txt" --features-dir "$tmp/ucf" --out "$tmp/ucf.txt" "$@" 2> "$tmp/err"
}
ucf "Abuse028_x264.mp4  Abuse  -1  -1  -1  -1"
rc=$?
if [ $rc -eq 1 ] && grep -q "ann.txt:2: Abuse028_x264.mp4" "$tmp/err" && [ ! -e "$tmp/ucf.txt" ]; then
    ok "import ucf: an anomalous video with no event is an error naming file and line"
else
    notok "import ucf: an anomalous video with no event is an error naming file and line" "exit $rc: $(cat "$tmp/err")"
fi
ucf "Abuse028_x264.mp4  Abuse  -1  -1  -1  -1" --allow-no-event
rc=$?
if [ $rc -eq 0 ] && grep -q "Abuse028_x264.npy 1 -" "$tmp/ucf.txt" && grep -q "warning" "$tmp/err"; then
    ok "import ucf --allow-no-event writes it without ground truth, with a warning"
else
    notok "import ucf --allow-no-event writes it without ground truth, with a warning" "exit $rc: $(cat "$tmp/err")"
fi
ucf "Abuse028_x264.mp4  Abuse  5  $((frames + 40))  -1  -1"
rc=$?
if [ $rc -eq 0 ] && grep -q "warning: Abuse028_x264.mp4: event 5-$((frames + 40)) ends past the $frames frames" "$tmp/err" &&
    "$arnet" eval --model "$m" --test "$tmp/ucf.txt" > /dev/null 2>&1; then
    ok "import ucf: an event ending past 16*T frames is kept (clipped) with a warning naming the video"
else
    notok "import ucf: an event ending past 16*T frames is kept (clipped) with a warning naming the video" "exit $rc: $(cat "$tmp/err")"
fi
ucf "Abuse028_x264.mp4  Abuse  5  20  $frames  $((frames + 40))"
rc=$?
if [ $rc -eq 1 ] && grep -q "ann.txt:2: Abuse028_x264.mp4: event $frames-$((frames + 40)) starts past" "$tmp/err" && [ ! -e "$tmp/ucf.txt" ]; then
    ok "import ucf: an event starting past 16*T frames fails (wrong features file)"
else
    notok "import ucf: an event starting past 16*T frames fails (wrong features file)" "exit $rc: $(cat "$tmp/err")"
fi
ucf "Abuse028_x264.mp4  Abuse  0  $((frames - 1))  -1  -1"
if [ $? -eq 0 ] && ! grep -q "warning" "$tmp/err"; then
    ok "import ucf: an event on the last frame (16*T - 1, inclusive) needs no warning"
else
    notok "import ucf: an event on the last frame (16*T - 1, inclusive) needs no warning" "$(cat "$tmp/err")"
fi

# --- calibrate ---------------------------------------------------------------------
if [ -n "$py" ]; then
    check "calibrate meets the target false-alarm rate on normal clips" sh -c "
        '$arnet' calibrate --model '$m' --normal '$d/test.txt' --far 0.05 --json > '$tmp/c.json' &&
        '$py' -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c[\"achieved_far\"] <= 0.05 and 0.0 < c[\"threshold\"] <= 1.0000001, c
assert c[\"skipped_anomalous\"] > 0 and c[\"videos\"] > 0, c
' '$tmp/c.json'"
else
    n=$((n + 1)); echo "ok $n - calibrate # SKIP no Python"
fi
"$arnet" calibrate --model "$m" --normal "$d/test.txt" > /dev/null 2>&1
if [ $? -eq 2 ]; then ok "calibrate without a target is a usage error"; else notok "calibrate without a target is a usage error"; fi
# calibrate --write --out FILE is an output like the others: an existing FILE
# needs --force, and FILE may be neither the manifest nor one of its features.
"$arnet" calibrate --model "$m" --normal "$d/test.txt" --far 0.05 --write --out "$tmp/cal.arnet" > /dev/null 2>&1
"$arnet" calibrate --model "$m" --normal "$d/test.txt" --far 0.05 --write --out "$tmp/cal.arnet" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q -- "--force" "$tmp/err"; then ok "calibrate --out refuses an existing file without --force"; else notok "calibrate --out refuses an existing file without --force" "$(cat "$tmp/err")"; fi
# calibration.fps only when --fps was given (a stream takes it for its seconds)
"$arnet" calibrate --model "$m" --normal "$d/test.txt" --far 0.05 --fps 10 --write --out "$tmp/cal10.arnet" > /dev/null 2>&1
"$arnet" calibrate --model "$tmp/cal10.arnet" --normal "$d/test.txt" --far 0.05 --write > /dev/null 2>&1
if ! "$arnet" info "$tmp/cal.arnet" | grep -q "calibration.fps" && "$arnet" info "$tmp/cal.arnet" | grep -q "calibration.threshold" &&
   ! "$arnet" info "$tmp/cal10.arnet" | grep -q "calibration.fps" &&
   "$arnet" calibrate --model "$m" --normal "$d/test.txt" --far 0.05 --fps 10 --write --out "$tmp/cal10.arnet" --force > /dev/null 2>&1 &&
   "$arnet" info "$tmp/cal10.arnet" | grep -q "calibration.fps.*10"; then
    ok "calibrate --write records calibration.fps only when --fps is given"
else
    notok "calibrate --write records calibration.fps only when --fps is given" "$("$arnet" info "$tmp/cal.arnet"; "$arnet" info "$tmp/cal10.arnet")"
fi
cal_feat=$d/$(grep -v '^#' "$d/test.txt" | awk 'NR == 1 {print $1}')
cp "$cal_feat" "$tmp/cal_feat.npy"
"$arnet" calibrate --model "$m" --normal "$d/test.txt" --far 0.05 --write --out "$cal_feat" --force > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q "is an input" "$tmp/err" && cmp -s "$cal_feat" "$tmp/cal_feat.npy"; then
    ok "calibrate --out refuses a feature file of --normal even with --force"
else
    notok "calibrate --out refuses a feature file of --normal even with --force" "$(cat "$tmp/err")"
fi

# --- resuming, keeping the best, Ctrl-C --------------------------------------------
o="--train $d/train.txt --batch-normal 4 --batch-anomalous 4 --seed 2 --lr 1e-3 --threads 1"
# Resuming to the bytes of an unbroken run, keep-best's weights and a file
# of arnet train 0.1 are the library's (tests/test_run.c); here: what the
# program adds (settings on the command line, Ctrl-C, output files).
"$arnet" train $o --iterations 10 --out "$tmp/r.arnet" >/dev/null
"$arnet" train --train "$d/train.txt" --resume "$tmp/r.arnet" --iterations 30 --lr 1e-2 \
    --out "$tmp/r2.arnet" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q -- "--lr" "$tmp/err" && [ ! -e "$tmp/r2.arnet" ]; then
    ok "resume with a different --lr is refused, naming it"
else
    notok "resume with a different --lr is refused, naming it" "$(cat "$tmp/err")"
fi
"$arnet" train --train "$d/train.txt" --resume "$m.missing" --iterations 30 --out "$tmp/r3.arnet" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "model.arnet.missing" "$tmp/err"; then ok "resume from a missing file names it"; else notok "resume from a missing file names it" "$(cat "$tmp/err")"; fi
check "keep-best writes the best model with its step and AUC" sh -c "
    '$arnet' train $o --iterations 20 --test '$d/test.txt' --eval-every 5 \
        --keep-best '$tmp/best.arnet' --out '$tmp/k.arnet' >/dev/null &&
    '$arnet' info '$tmp/best.arnet' | grep -q 'trainer.best_auc' &&
    '$arnet' info '$tmp/k.arnet' | grep -q 'trainer.best_step'"
"$arnet" train $o --iterations 30 --keep-best "$tmp/b2.arnet" --out "$tmp/k2.arnet" > /dev/null 2>&1
if [ $? -eq 2 ]; then ok "keep-best without --test is a usage error"; else notok "keep-best without --test is a usage error"; fi
# Ctrl-C: the run stops at a step boundary, saves a file that resumes, and the
# resumed run ends with the weights of an uninterrupted run.
"$arnet" train $o --iterations 100000000 --out "$tmp/int.arnet" > /dev/null 2> "$tmp/err" &
pid=$!
sleep 1
kill -INT $pid
wait $pid
rc=$?
steps=$("$arnet" info "$tmp/int.arnet" 2>/dev/null | awk '$1 == "trainer.step" { print $2 }')
if [ $rc -eq 130 ] && [ -n "$steps" ] && grep -q "interrupted after step $steps" "$tmp/err"; then
    ok "Ctrl-C stops training and saves the step it reached ($steps)"
    to=$((steps + 7))
    check "an interrupted run resumed equals an uninterrupted one" sh -c "
        '$arnet' train --train '$d/train.txt' --resume '$tmp/int.arnet' --iterations $to --out '$tmp/int.arnet' >/dev/null &&
        '$arnet' train $o --iterations $to --out '$tmp/str.arnet' >/dev/null &&
        cmp '$tmp/int.arnet' '$tmp/str.arnet'"
else
    notok "Ctrl-C stops training and saves the step it reached" "exit $rc, steps '$steps': $(cat "$tmp/err")"
fi

"$arnet" train --train "$d/test.txt" --resume "$tmp/r.arnet" --iterations 30 \
    --batch-normal 4 --batch-anomalous 4 --out "$tmp/r4.arnet" > /dev/null 2> "$tmp/err"
if [ $? -eq 2 ] && grep -q "training data differ" "$tmp/err" && [ ! -e "$tmp/r4.arnet" ]; then
    ok "resume with other training data is refused"
else
    notok "resume with other training data is refused" "$(cat "$tmp/err")"
fi

# --- demo: a second run with the same settings reuses the finished folder --------
dm=$tmp/demo
check "demo runs and leaves model, results, plots and its stamp" sh -c "
    '$arnet' demo --out '$dm' --feature-dim 8 --iterations 20 --quiet > '$tmp/demo1' &&
    test -s '$dm/model.arnet' && test -s '$dm/results.json' && test -s '$dm/plots/index.html' &&
    test -s '$dm/demo.stamp' && grep -q '^AUC' '$tmp/demo1'"
touch -d '2000-01-01' "$dm/model.arnet"
check "demo again with the same settings only evaluates, same result" sh -c "
    '$arnet' demo --out '$dm' --feature-dim 8 --iterations 20 > '$tmp/demo2' &&
    grep -q 'earlier demo run' '$tmp/demo2' &&
    test \"\$(tail -1 '$tmp/demo1')\" = \"\$(tail -1 '$tmp/demo2')\" &&
    test -z \"\$(find '$dm/model.arnet' -newer '$tmp/demo1')\""
check "demo with other settings or --force trains again" sh -c "
    '$arnet' demo --out '$dm' --feature-dim 8 --iterations 21 > '$tmp/demo3' &&
    ! grep -q 'earlier demo run' '$tmp/demo3' && grep -q 'iterations 21' '$dm/demo.stamp' &&
    '$arnet' demo --out '$dm' --feature-dim 8 --iterations 21 --force > '$tmp/demo4' &&
    ! grep -q 'earlier demo run' '$tmp/demo4'"


# --- outputs: nothing is replaced by surprise (issue 9, point 5) -------------------
# expect NAME CODE PATTERN COMMAND...: COMMAND exits CODE and its stderr matches
# the extended regular expression PATTERN.
expect() {
    name=$1 code=$2 pat=$3; shift 3
    "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    if [ $rc -eq "$code" ] && { [ -z "$pat" ] || grep -Eq -- "$pat" "$tmp/err"; }; then ok "$name"; else notok "$name" "exit $rc (expected $code): $(cat "$tmp/err")"; fi
}
t="--iterations 3 --batch-normal 4 --batch-anomalous 4 --threads 1 -q"
cp "$f1" "$tmp/f1.copy"; cp "$d/train.txt" "$tmp/train.copy"
ft=$d/$(awk '!/^#/ && NF { print $1; exit }' "$d/train.txt") # a training video's features
cp "$ft" "$tmp/ft.copy"
expect "train --out FEATURE.npy is refused even with --force (an input)" 2 "is an input.*feature file" \
    "$arnet" train --train "$d/train.txt" --out "$ft" --force $t
cmp -s "$ft" "$tmp/ft.copy" && ok "the feature file is untouched" || notok "the feature file is untouched"
expect "train --out equal to --train is refused even with --force" 2 "is an input.*manifest --train" \
    "$arnet" train --train "$d/train.txt" --out "$d/../data/train.txt" --force $t
cmp -s "$d/train.txt" "$tmp/train.copy" && ok "the manifest is untouched" || notok "the manifest is untouched"
cp "$m" "$tmp/m.copy"
expect "train --out over an existing model needs --force (and says --resume)" 2 "already exists.*--force.*--resume" \
    "$arnet" train --train "$d/train.txt" --out "$m" $t
cmp -s "$m" "$tmp/m.copy" && ok "the existing model is untouched" || notok "the existing model is untouched"
cp "$m" "$tmp/forced.arnet"
expect "train --force replaces an existing model" 0 "" \
    "$arnet" train --train "$d/train.txt" --out "$tmp/forced.arnet" --force $t
cmp -s "$tmp/forced.arnet" "$tmp/m.copy" && notok "--force wrote a new model" || ok "--force wrote a new model"
# Two writers of one output: the second is told the first has it.
"$arnet" train --train "$d/train.txt" --out "$tmp/busy.arnet" --iterations 100000000 \
    --batch-normal 4 --batch-anomalous 4 --threads 1 -q 2> /dev/null &
pid=$!
i=0; while [ ! -e "$tmp/busy.arnet.lock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
expect "a second train into the same --out while the first runs: 'in use'" 1 "busy.arnet is in use.*process $pid" \
    "$arnet" train --train "$d/train.txt" --out "$tmp/busy.arnet" --force $t
# SIGINT until it stops: a background job ignores it until arnet sets its handler.
i=0; while kill -INT $pid 2> /dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
wait $pid
rc=$?
if [ $rc -eq 130 ] && [ -s "$tmp/busy.arnet" ] && [ ! -e "$tmp/busy.arnet.lock" ]; then
    ok "the first run ends normally and removes its lock file"
else
    notok "the first run ends normally and removes its lock file" "exit $rc; $(ls "$tmp" | grep busy)"
fi
# A lock file left by a killed run holds no lock: the next run takes it over.
echo 99999999 > "$tmp/stale.arnet.lock"
expect "a lock file left by a killed run does not block the next one" 0 "" \
    "$arnet" train --train "$d/train.txt" --out "$tmp/stale.arnet" $t
[ -s "$tmp/stale.arnet" ] && [ ! -e "$tmp/stale.arnet.lock" ] && ok "... which removes it" ||
    notok "... which removes it" "$(ls "$tmp" | grep stale)"
# synth into a folder holding a user's manifests.
mkdir -p "$tmp/mine"
echo "features/x.npy 1 -" > "$tmp/mine/train.txt"
expect "synth --out DIR holding train.txt needs --force" 2 "already holds .*train.txt.*--force" \
    "$arnet" synth --out "$tmp/mine" --scale 0.05 --feature-dim 4
grep -q "features/x.npy" "$tmp/mine/train.txt" && ok "the user's manifest is untouched" || notok "the user's manifest is untouched"
expect "synth --force replaces it" 0 "" "$arnet" synth --out "$tmp/mine" --scale 0.05 --feature-dim 4 --force
if command -v flock > /dev/null 2>&1; then
    # Another writer holding the folder (flock(1) takes the lock arnet takes).
    flock "$tmp/mine" sleep 3 &
    holder=$!
    sleep 0.5
    expect "synth into a folder another process is writing: 'in use'" 1 "mine is in use" \
        "$arnet" synth --out "$tmp/mine" --scale 0.05 --feature-dim 4 --force
    wait $holder
else
    n=$((n + 1)); echo "ok $n - synth into a folder in use # SKIP no flock(1)"
fi
# import.
printf '%s\n' "$f1" > "$tmp/list.txt"
expect "import --out equal to --list is refused even with --force" 2 "is an input.*--list" \
    "$arnet" import rtfm --list "$tmp/list.txt" --anomalous 0 --out "$tmp/list.txt" --force
expect "import --out equal to a listed feature file is refused" 2 "is an input.*feature file" \
    "$arnet" import rtfm --list "$tmp/list.txt" --anomalous 0 --out "$f1" --force
cmp -s "$f1" "$tmp/f1.copy" && ok "the feature file is untouched by import" || notok "the feature file is untouched by import"
echo "keep me" > "$tmp/imported.txt"
expect "import --out over an existing manifest needs --force" 2 "already exists.*--force" \
    "$arnet" import rtfm --list "$tmp/list.txt" --anomalous 0 --out "$tmp/imported.txt"
expect "import --force replaces it" 0 "wrote" \
    "$arnet" import rtfm --list "$tmp/list.txt" --anomalous 0 --out "$tmp/imported.txt" --force
# score --npy and eval --plots.
expect "score --npy writes a new file" 0 "wrote 1 file" \
    "$arnet" score --model "$m" --npy "$tmp/one.npy.keep" "$f1"
: > "$tmp/one.npy.keep"
expect "score --npy over an existing file needs --force (file made)" 2 "already exists.*--force" \
    "$arnet" score --model "$m" --npy "$tmp/one.npy.keep" "$f1"
expect "score --npy --force replaces it" 0 "wrote 1 file" \
    "$arnet" score --model "$m" --npy "$tmp/one.npy.keep" --force "$f1"
expect "score --npy equal to the input is refused even with --force" 2 "is an input.*FEATURES" \
    "$arnet" score --model "$m" --npy "$f1" --force "$f1"
cmp -s "$f1" "$tmp/f1.copy" && ok "the feature file is untouched by score" || notok "the feature file is untouched by score"
expect "eval --plots over earlier plots needs --force" 2 "already holds .*index.html.*--force" \
    "$arnet" eval --model "$m" --test "$d/test.txt" --plots "$tmp/plots"
expect "eval --plots --force replaces them" 0 "" \
    "$arnet" eval --model "$m" --test "$d/test.txt" --plots "$tmp/plots" --force

# --- the CLI speaks CLI (issue 9, point 7) -------------------------------------------
expect "a library limit names the option typed (--batch-anomalous), not the field (a usage error, before any data is read)" 2 "--batch-anomalous 100000" \
    "$arnet" train --train "$d/train.txt" --out "$tmp/lim.arnet" --batch-anomalous 100000 --iterations 2
mkdir -p "$tmp/crop"
"$arnet" eval --model "$m" --test "$tmp/crop/lr.txt" --crop 0 > /dev/null 2> "$tmp/err"
if grep -q "$tmp/crop/lr.txt" "$tmp/err"; then ok "option names never replace words inside a path"; else notok "option names never replace words inside a path" "$(cat "$tmp/err")"; fi
if grep -q "anomalous_per_batch\|arnet_trainer" "$tmp/err"; then notok "no library field or function name in the message" "$(cat "$tmp/err")"; else ok "no library field or function name in the message"; fi
"$arnet" score --model "$m" "$tmp/missing-features.npy" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && [ "$(grep -o "missing-features.npy" "$tmp/err" | wc -l)" -eq 1 ] && grep -q "cannot open" "$tmp/err"; then
    ok "a missing file appears once in its message, with the cause"
else
    notok "a missing file appears once in its message, with the cause" "$(cat "$tmp/err")"
fi
long=$tmp/$(printf 'a_rather_long_folder_name_%.0s' 1 2 3 4 5 6 7 8)
mkdir -p "$long"
"$arnet" score --model "$m" "$long/missing.npy" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && head -c 100 "$tmp/err" | grep -q "cannot open" && grep -q "$long/missing.npy" "$tmp/err"; then
    ok "a long path comes after the cause, whole"
else
    notok "a long path comes after the cause, whole" "$(cat "$tmp/err")"
fi
expect "a .npy given as a manifest is recognised" 1 "--train .*01.*is a NumPy .npy file, not a manifest" \
    "$arnet" train --train "$f1" --out "$tmp/npy.arnet" $t
printf '\357\273\277' > "$d/bom.txt"; cat "$d/train.txt" >> "$d/bom.txt"
expect "a manifest starting with a UTF-8 byte order mark trains" 0 "" \
    "$arnet" train --train "$d/bom.txt" --out "$tmp/bom.arnet" $t
"$arnet" train $o --iterations 4 --test "$d/test.txt" --eval-every 2 --keep-best "$tmp/kb.arnet" \
    --out "$tmp/ka.arnet" -q
expect "train --resume alone with --test and --keep-best recorded goes on (its own files)" 0 "" \
    "$arnet" train --resume "$tmp/ka.arnet" --iterations 6 -q
expect "... and so does the command that started it plus --resume (its --keep-best file)" 0 "" \
    "$arnet" train $o --iterations 5 --test "$d/test.txt" --eval-every 2 --keep-best "$tmp/kb.arnet" \
    --out "$tmp/ka2.arnet" --resume "$tmp/ka.arnet" -q
steps=$("$arnet" info "$tmp/ka.arnet" 2>/dev/null | awk '$1 == "trainer.step" { print $2 }')
best=$("$arnet" info "$tmp/ka.arnet" 2>/dev/null | awk '$1 == "trainer.eval_step" { print $2 }')
if [ "$steps" = 6 ] && [ "$best" = 6 ] && [ -s "$tmp/kb.arnet" ]; then ok "... evaluating on the recorded test list"; else notok "... evaluating on the recorded test list" "trainer.step $steps, trainer.eval_step $best"; fi
"$arnet" train --train "$d/train.txt" --out "$tmp/q.arnet" $t > "$tmp/out" 2> "$tmp/err"
if [ $? -eq 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ]; then ok "-q works for --quiet"; else notok "-q works for --quiet" "$(cat "$tmp/out" "$tmp/err")"; fi
missing=""
"$arnet" --help | grep -q "^exit status:" || missing="arnet"
for cmd in demo train eval score calibrate info synth import; do
    "$arnet" $cmd --help | grep -q "^exit status:" || missing="$missing $cmd"
done
if [ -z "$missing" ]; then ok "every --help lists the exit codes"; else notok "every --help lists the exit codes" "missing in:$missing"; fi
"$arnet" train --train "$d/train.txt" --out "$tmp/log.arnet" --iterations 40 --batch-normal 4 --batch-anomalous 4 \
    > /dev/null 2> "$tmp/log"
lines=$(grep -c "^step [0-9]*/40 " "$tmp/log")
if [ "$lines" -ge 10 ] && grep -q "^step 40/40 " "$tmp/log" && ! grep -q "$(printf '\033')" "$tmp/log"; then
    ok "progress goes to a log as lines ($lines for 40 steps), no terminal codes"
else
    notok "progress goes to a log as lines, no terminal codes" "$(cat "$tmp/log")"
fi
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
threads=$("$arnet" info "$tmp/log.arnet" | awk '$1 == "trainer.threads" { print $2 }')
if [ "$threads" = "$cores" ]; then ok "train uses every processor by default ($cores)"; else notok "train uses every processor by default" "trainer.threads $threads, processors $cores"; fi
# --- files that are not regular files, and file modes (issue 9, points 5-6) ------
# Kept together at the end.  A FIFO must be refused at once (exit 1, the path
# and "not a regular file" in the message), never waited on: each run is
# guarded by timeout, whose exit 124 fails the check.
fifo_dir=$tmp/fifo
mkdir -p "$fifo_dir"
mkfifo "$fifo_dir/f.npy" "$fifo_dir/m.arnet" "$fifo_dir/train.txt"
refused() { # refused NAME PATH COMMAND...: exit 1, message names PATH
    name=$1 path=$2; shift 2
    timeout 20 "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -qF "$path" "$tmp/err" && grep -q "not a regular file" "$tmp/err"; then
        ok "$name"
    else
        notok "$name" "exit $rc (124: hung): $(cat "$tmp/err")"
    fi
}
refused "score refuses a FIFO as features" "$fifo_dir/f.npy" "$arnet" score --model "$m" "$fifo_dir/f.npy"
refused "score refuses a FIFO as --model" "$fifo_dir/m.arnet" "$arnet" score --model "$fifo_dir/m.arnet" "$f1"
refused "info refuses a FIFO" "$fifo_dir/m.arnet" "$arnet" info "$fifo_dir/m.arnet"
refused "train refuses a FIFO as --train" "$fifo_dir/train.txt" \
    "$arnet" train --train "$fifo_dir/train.txt" --out "$fifo_dir/never.arnet" --iterations 1
refused "eval refuses a FIFO as --test" "$fifo_dir/train.txt" "$arnet" eval --model "$m" --test "$fifo_dir/train.txt"
printf 'f.npy 1\n' > "$fifo_dir/list.txt"
refused "a manifest line naming a FIFO is refused" "f.npy" \
    "$arnet" eval --model "$m" --test "$fifo_dir/list.txt"
refused "info refuses a folder" "$fifo_dir" "$arnet" info "$fifo_dir"
# The lists and annotations the importers read themselves (not through the
# library) are checked the same way.
refused "import rtfm refuses a FIFO as --list" "$fifo_dir/train.txt" \
    "$arnet" import rtfm --list "$fifo_dir/train.txt" --anomalous 1 --out "$fifo_dir/never.txt"
refused "import ucf refuses a FIFO as --annotations" "$fifo_dir/train.txt" \
    "$arnet" import ucf --annotations "$fifo_dir/train.txt" --features-dir "$fifo_dir" --out "$fifo_dir/never.txt"
refused "import ucf refuses a folder as --annotations" "$fifo_dir" \
    "$arnet" import ucf --annotations "$fifo_dir" --features-dir "$fifo_dir" --out "$fifo_dir/never.txt"
# .npy outputs follow the umask like any new file (mkstemp made them 0600).
(umask 022 && "$arnet" score --model "$m" "$f1" --npy "$tmp/mode.npy" > /dev/null 2> "$tmp/err")
mode=$(stat -c %a "$tmp/mode.npy" 2>/dev/null)
if [ "$mode" = 644 ]; then ok "score --npy output has mode 644 under umask 022"; else notok "score --npy output has mode 644 under umask 022" "mode '$mode': $(cat "$tmp/err")"; fi
(umask 022 && "$arnet" synth --out "$tmp/modes" --scale 0.05 --feature-dim 8 > /dev/null 2> "$tmp/err")
wrong=$(find "$tmp/modes" -type f ! -perm 644 | head -3)
if [ -d "$tmp/modes/features" ] && [ -z "$wrong" ]; then ok "synth files have mode 644 under umask 022"; else notok "synth files have mode 644 under umask 022" "$wrong $(cat "$tmp/err")"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
