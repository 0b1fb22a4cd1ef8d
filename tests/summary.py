#!/usr/bin/env python3
"""summary.py -- the closing line of a test run: "N passed, N failed, N skipped".

Reads meson's testlog.json, or several (./dev.sh test passes the normal
build's, then the sanitizer builds', fuzz targets included: the line counts
them all, and a line per log on stderr says where the counts come from).
A test that speaks TAP (the Check programs, the Python binding tests, the
fuzz targets) counts once per TAP test case; any other test counts once by
its result.  A test that failed or timed out without a failing TAP
line still counts as one failure, so a crash is never hidden.
"""
import json
import re
import sys

TAP_RESULT = re.compile(r"^(not ok|ok)\b(.*)$")


def count(path):
    """(passed, failed, skipped) of one testlog.json; an unreadable log is a failure."""
    passed = failed = skipped = 0
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as exc:
        print(f"summary: cannot read {path}: {exc}", file=sys.stderr)
        return 0, 1, 0
    for line in lines:
        if not line.strip():
            continue
        test = json.loads(line)
        result = test.get("result", "")
        tap_pass = tap_fail = tap_skip = 0
        for out_line in (test.get("stdout") or "").splitlines():
            m = TAP_RESULT.match(out_line)
            if not m:
                continue
            directive = m.group(2).upper()
            if "# SKIP" in directive:
                tap_skip += 1
            elif m.group(1) == "ok":
                tap_pass += 1
            elif "# TODO" in directive:
                tap_skip += 1
            else:
                tap_fail += 1
        if tap_pass + tap_fail + tap_skip:
            passed += tap_pass
            failed += tap_fail
            skipped += tap_skip
            if result not in ("OK", "EXPECTEDFAIL") and tap_fail == 0:
                failed += 1
                print(f"summary: {test['name']}: {result} after {tap_pass} passing cases",
                      file=sys.stderr)
        elif result == "OK":
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
    return passed, failed, skipped


def main(paths):
    total = [0, 0, 0]
    for path in paths:
        counts = count(path)
        if len(paths) > 1:
            print(f"summary: {path}: {counts[0]} passed, {counts[1]} failed, "
                  f"{counts[2]} skipped", file=sys.stderr)
        total = [a + b for a, b in zip(total, counts)]
    passed, failed, skipped = total
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build/meson-logs/testlog.json"]))
