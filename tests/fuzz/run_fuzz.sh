#!/bin/sh
# run_fuzz.sh EXE NAME CORPUS WORK -- run one libFuzzer target for a fixed
# budget (ARNET_FUZZ_SECONDS, default 20) and report one TAP line.
# CORPUS (committed seeds and regression inputs) is only read; new inputs
# go to WORK/corpus, which later runs start from too; a crash input goes to
# WORK/ as crash-<sha1>, with the log, and the test fails naming both.
set -u
exe=$1 name=$2 corpus=$3 work=$4
secs=${ARNET_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*
log=$work/log.txt
# The harnesses' scratch files go to a folder of this run, removed at the
# end whatever happened (a crash skips the harness's own clean-up), on
# tmpfs when there is one: the library fsyncs what it writes (the import
# target writes a manifest per input).
base=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    base=/dev/shm
fi
scratch=$(mktemp -d "$base/arnet-fuzz-run.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"
echo "1..1"
# -close_fd_mask=3: the importers print; libFuzzer and sanitizer reports
# still reach the log.  -rss_limit_mb / -malloc_limit_mb: a hostile header
# must never make the library allocate hundreds of MiB.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
"$exe" -max_total_time="$secs" -timeout=20 -rss_limit_mb=1024 -malloc_limit_mb=512 \
    -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$work/" \
    "$work/corpus" "$corpus" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
found=$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -n 1)
if [ $rc -eq 0 ] && [ -z "$found" ]; then
    echo "ok 1 - fuzz $name: ${runs:-?} runs in ${secs} s, ${cov:-cov: ?}"
    exit 0
fi
echo "not ok 1 - fuzz $name: exit status $rc after ${runs:-?} runs; input: ${found:-none saved}; log: $log"
grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$log" | head -n 30 | sed 's/^/# /'
# The harness's own checks print to stderr, which the run above closed:
# run the input once more to show what failed.
[ -n "$found" ] && "$exe" "$found" 2>&1 | grep -E 'fuzz check failed|ERROR|runtime error' | head -n 5 | sed 's/^/# /'
exit 1
