#!/usr/bin/env python3
"""summary.py -- the closing line of a test run: "N passed, N failed, N skipped".

Reads meson's testlog.json.  A test that speaks TAP (the Check programs, the
Python binding tests) counts once per TAP test case; any other test counts
once by its result.  A test that failed or timed out without a failing TAP
line still counts as one failure, so a crash is never hidden.
"""
import json
import re
import sys

TAP_RESULT = re.compile(r"^(not ok|ok)\b(.*)$")


def main(path):
    passed = failed = skipped = 0
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as exc:
        print(f"summary: cannot read {path}: {exc}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
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
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/meson-logs/testlog.json"))
