#!/bin/sh
# check_numbers.sh -- every numeric option of every arnet command goes
# through one parser (tools/cli.c) that refuses, naming the option, what is
# not a number in range: values past 32 or 64 bits that sscanf/strtoull
# used to wrap (--size 4294967297x1 was taken as 1x1, --shard 1/4294967298
# as 1/2), negative numbers for unsigned options ("-1" was 2^64 - 1),
# trailing text, empty values, doubles that overflow or are not numbers.
# Each refusal exits 2.  Writes TAP.
# usage: check_numbers.sh ARNET_EXE
set -u
arnet=$1
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/# /'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# refused CMD OPTION VALUE WORD: `arnet CMD OPTION VALUE` exits 2 with a
# message naming OPTION and containing WORD.
refused() {
    cmd=$1 opt=$2 val=$3 word=$4
    "$arnet" $cmd "$opt" "$val" > /dev/null 2> "$tmp/err"
    rc=$?
    if [ $rc -eq 2 ] && grep -q -- "arnet $cmd: $opt" "$tmp/err" && grep -q -- "$word" "$tmp/err"; then
        ok "$cmd $opt '$val' refused ($word)"
    else
        notok "$cmd $opt '$val' refused ($word)" "exit $rc: $(cat "$tmp/err")"
    fi
}

# --- the wraps the issue found ----------------------------------------------
refused watch --size 4294967297x1 "W 4294967297 is out of range"
refused watch --size 1x4294967297 "H 4294967297 is out of range"
refused watch --size 18446744073709551617x1 "too large"
refused watch --size -1x5 "negative"
refused watch --size 5x "not WxH"
refused watch --size 5x5x "not WxH"
refused watch --size " 5x5" "not WxH"
refused watch --size "" "not WxH"
refused watch --size 0x5 "out of range"
refused watch --size 16385x1 "out of range"
refused extract --shard 4294967297/3 "K 4294967297 is out of range"
refused extract --shard 1/4294967298 "N 4294967298 is out of range"
refused extract --shard 3/2 "1 <= K <= N"
refused extract --shard 0/2 "out of range"
refused extract --shard 1/-3 "negative"
refused extract --shard 1/3junk "not K/N"

# --- whole numbers, one option of each command --------------------------------
refused extract --threads -1 "negative"
refused extract --threads 0 "out of range"
refused extract --threads 4abc "not a whole number"
refused extract --threads " 4" "not a whole number"
refused extract --threads +4 "not a whole number"
refused extract --threads 0x10 "not a whole number"
refused extract --threads "" "empty"
refused extract --threads 99999999999999999999999 "too large"
refused watch --window 4097 "out of range"
refused watch --min-on -5 "negative"
refused score --crop 4294967296 "out of range"
refused eval --crop -1 "negative"
refused demo --iterations 18446744073709551616 "too large"
refused demo --feature-dim 0 "out of range"
refused synth --seed 18446744073709551616 "too large"
refused synth --seed -1 "negative"
refused train --seed -1 "negative"
refused train --iterations 1e3 "not a whole number"
refused train --max-clips 4294967296 "out of range"
refused train --batch-normal 4294967297 "out of range"
refused train --threads 4294967297 "out of range"
refused train --hidden 65537 "out of range"
refused train --save-every 18446744073709551616 "too large"
refused "import i3d" --level 10 "out of range"
refused flow --threads 0 "out of range"
refused flow --threads 4294967297 "out of range"
refused extract --jobs -1 "negative"
refused extract --shards 4294967297 "out of range"
refused extract --max-attempts 1x "not a whole number"
refused extract --lease nan "not a number"
"$arnet" import rtfm --list "$tmp/l" --out "$tmp/m" --anomalous 4294967296 > /dev/null 2> "$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q -- "--anomalous: 4294967296 is out of range" "$tmp/err"; then ok "import rtfm --anomalous 2^32 refused"
else notok "import rtfm --anomalous 2^32 refused" "exit $rc: $(cat "$tmp/err")"; fi

# --- doubles ------------------------------------------------------------------
refused calibrate --far 1e999 "out of range"
refused calibrate --far nan "not a number"
refused calibrate --far inf "not a number"
refused calibrate --far 0x1p-3 "not a number"
refused calibrate --far " 0.1" "not a number"
refused calibrate --far 0.1x "not a number"
refused calibrate --far 1.5 "out of range"
refused calibrate --fps "" "empty"
refused train --lr 1e-400 "out of range"
refused train --lr -0.1 "out of range"
refused train --dropout 1 "out of range"
refused watch --fps -1e999 "out of range"
refused watch --threshold nan "not a number"
refused synth --scale "" "empty"

# --- values in range still work -------------------------------------------------
"$arnet" extract --shard 2/3 --threads=1024 > /dev/null 2> "$tmp/err"
if ! grep -q -- "--shard\|--threads" "$tmp/err"; then ok "extract --shard 2/3 --threads=1024 accepted"
else notok "extract --shard 2/3 --threads=1024 accepted" "$(cat "$tmp/err")"; fi
"$arnet" watch --size 16384x1 --fps 1e-3 > /dev/null 2> "$tmp/err"
if ! grep -q -- "--size\|--fps" "$tmp/err"; then ok "watch --size 16384x1 --fps 1e-3 accepted"
else notok "watch --size 16384x1 --fps 1e-3 accepted" "$(cat "$tmp/err")"; fi
if "$arnet" synth --out "$tmp/s" --scale 0.01 --feature-dim 4 --seed 18446744073709551615 \
    > /dev/null 2> "$tmp/err"; then ok "synth --seed 2^64-1 accepted"
else notok "synth --seed 2^64-1 accepted" "$(cat "$tmp/err")"; fi

echo "1..$n"
[ $failed -eq 0 ]
