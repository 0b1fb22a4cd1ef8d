"""test_metrics.py -- arnet.roc_auc / average_precision / pr_auc against
hand-worked values, an independent pure-Python reference of sklearn's
definitions (ties included) and sklearn itself when importable; and
threshold_for_far."""
import random
import unittest

import arnet
from helpers import f32, np

try:
    from sklearn.metrics import auc as sk_auc
    from sklearn.metrics import (average_precision_score, precision_recall_curve,
                                 roc_auc_score)
except ImportError:
    roc_auc_score = None


def ref_curve(scores, labels):
    """(tp, fp) after each distinct threshold, highest first."""
    pairs = sorted(zip(scores, labels), key=lambda p: -p[0])
    out, tp, fp, i = [], 0, 0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            tp += 1 if pairs[j][1] else 0
            fp += 0 if pairs[j][1] else 1
            j += 1
        out.append((tp, fp))
        i = j
    return out


def ref_roc_auc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def ref_ap(scores, labels):
    curve = ref_curve(scores, labels)
    p_total = curve[-1][0]
    ap, prev_r = 0.0, 0.0
    for tp, fp in curve:
        r = tp / p_total
        ap += (r - prev_r) * tp / (tp + fp)
        prev_r = r
    return ap


def ref_pr_auc(scores, labels):
    curve = ref_curve(scores, labels)
    p_total = curve[-1][0]
    pts = [(0.0, 1.0)] + [(tp / p_total, tp / (tp + fp)) for tp, fp in curve]
    return sum((r1 - r0) * (p0 + p1) / 2 for (r0, p0), (r1, p1) in zip(pts, pts[1:]))


class MetricsTest(unittest.TestCase):
    S = [0.1, 0.4, 0.35, 0.8]
    Y = [0, 0, 1, 1]

    def test_hand_worked(self):
        # Pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4: 3/4.
        self.assertEqual(arnet.roc_auc(self.S, self.Y), 0.75)
        # Descending: 0.8 (+) P=1 R=.5; 0.4 (-); 0.35 (+) P=2/3 R=1.
        self.assertAlmostEqual(arnet.average_precision(self.S, self.Y),
                               0.5 * 1 + 0.5 * 2 / 3, places=12)
        # Points (0,1) (.5,1) (.5,.5) (1,2/3) (1,.5): 0.5 + 0 + 0.5*(0.5+2/3)/2 + 0.
        self.assertAlmostEqual(arnet.pr_auc(self.S, self.Y), 19 / 24, places=12)

    def test_ties_count_half(self):
        self.assertEqual(arnet.roc_auc([0.5, 0.5], [0, 1]), 0.5)
        self.assertEqual(arnet.roc_auc([0.5, 0.5, 0.9], [0, 1, 1]), 0.75)

    def test_label_kinds(self):
        want = arnet.roc_auc(self.S, self.Y)
        self.assertEqual(arnet.roc_auc(self.S, [False, False, True, True]), want)
        self.assertEqual(arnet.roc_auc(self.S, [0, 0, 7, -1]), want)  # nonzero = positive
        self.assertEqual(arnet.roc_auc(tuple(self.S), bytes([0, 0, 1, 1])), want)
        if np is not None:
            self.assertEqual(arnet.roc_auc(np.array(self.S, dtype=np.float32),
                                           np.array(self.Y, dtype=np.uint8)), want)
            self.assertEqual(arnet.roc_auc(np.array(self.S),
                                           np.array(self.Y, dtype=bool)), want)
            self.assertEqual(arnet.roc_auc(np.array(self.S), np.array([0, 0, 2, 3])), want)

    def test_random_against_reference(self):
        r = random.Random(5)
        for case in range(20):
            n = r.randint(5, 300)
            coarse = r.choice([0.01, 0.1, 0.25])  # many ties
            s = [f32(round(r.random() / coarse) * coarse) for _ in range(n)]
            y = [1 if r.random() < 0.3 else 0 for _ in range(n)]
            y[0], y[1] = 0, 1
            with self.subTest(case=case):
                self.assertAlmostEqual(arnet.roc_auc(s, y), ref_roc_auc(s, y), places=12)
                self.assertAlmostEqual(arnet.average_precision(s, y), ref_ap(s, y), places=12)
                self.assertAlmostEqual(arnet.pr_auc(s, y), ref_pr_auc(s, y), places=12)

    @unittest.skipIf(roc_auc_score is None, "scikit-learn is not importable")
    def test_random_against_sklearn(self):
        rs = np.random.RandomState(3)
        for case in range(10):
            n = rs.randint(10, 5000)
            s = np.round(rs.rand(n), rs.randint(1, 4)).astype(np.float32)
            y = (rs.rand(n) < 0.2).astype(np.uint8)
            y[0], y[1] = 0, 1
            p, rcl, _ = precision_recall_curve(y, s)
            with self.subTest(case=case):
                self.assertAlmostEqual(arnet.roc_auc(s, y), roc_auc_score(y, s), places=9)
                self.assertAlmostEqual(arnet.average_precision(s, y),
                                       average_precision_score(y, s), places=9)
                self.assertAlmostEqual(arnet.pr_auc(s, y), sk_auc(rcl, p), places=9)

    def test_errors(self):
        for fn in (arnet.roc_auc, arnet.average_precision, arnet.pr_auc):
            with self.assertRaises(arnet.ArnetError) as cm:
                fn([0.1, 0.2], [1, 1])
            self.assertEqual(cm.exception.status, arnet.E_INVALID)
            self.assertIn("class", cm.exception.message)
            with self.assertRaises(arnet.ArnetError) as cm:
                fn([0.1, float("nan"), 0.3], [0, 1, 1])
            self.assertEqual(cm.exception.status, arnet.E_INVALID)
            self.assertIn("1", cm.exception.message)  # names the index
            with self.assertRaises(arnet.ArnetError) as cm:
                fn([0.1, 0.2], [0, 1, 1])
            self.assertEqual(cm.exception.status, arnet.E_SHAPE)
            with self.assertRaises(arnet.ArnetError):
                fn([], [])

    def test_threshold_for_far(self):
        scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
        # At most 2 of 10 scores may alarm: the smallest such threshold lies
        # just above 0.8 (the third highest), not at 0.9.
        t, far = arnet.threshold_for_far(scores, 0.2)
        self.assertGreater(t, f32(0.8))
        self.assertAlmostEqual(t, 0.8, places=6)
        self.assertEqual(far, 0.2)
        self.assertEqual(sum(s >= t for s in map(f32, scores)) / 10, far)
        t, far = arnet.threshold_for_far(scores, 1.0)
        self.assertAlmostEqual(t, 0.1, places=6)
        t, far = arnet.threshold_for_far(scores, 0.0)
        self.assertGreater(t, 1.0)
        self.assertEqual(far, 0.0)
        with self.assertRaises(arnet.ArnetError):
            arnet.threshold_for_far([], 0.1)


if __name__ == "__main__":
    unittest.main()
