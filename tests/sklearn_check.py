#!/usr/bin/python3
"""sklearn_check.py -- the independent reference for tests/test_metrics.c.

Reads cases written by the test: a line "case N", then N lines "score label"
(score printed with 17 significant digits, so the float32 value is exact).
Prints one line per case: roc_auc_score, average_precision_score and
auc(recall, precision) over precision_recall_curve, as repr()s.
Exit status 3 when numpy or scikit-learn is missing (the test then skips).
"""
import sys

try:
    import numpy as np
    from sklearn.metrics import (auc, average_precision_score,
                                 precision_recall_curve, roc_auc_score)
except ImportError as exc:  # the caller treats 3 as "reference unavailable"
    print(f"sklearn_check: {exc}", file=sys.stderr)
    sys.exit(3)


def main(path):
    with open(path, encoding="ascii") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        head = lines[i].split()
        assert head[0] == "case", head
        n = int(head[1])
        rows = [ln.split() for ln in lines[i + 1:i + 1 + n]]
        i += 1 + n
        scores = np.array([float(r[0]) for r in rows], dtype=np.float64)
        labels = np.array([int(r[1]) for r in rows], dtype=np.int64)
        roc = roc_auc_score(labels, scores)
        ap = average_precision_score(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        area = auc(recall, precision)
        print(repr(float(roc)), repr(float(ap)), repr(float(area)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
