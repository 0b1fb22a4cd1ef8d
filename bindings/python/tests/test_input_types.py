"""test_input_types.py -- what the binding refuses instead of converting: NaN
labels (the .npy label reader refuses them too; before, NaN was nonzero and
counted as a positive), and complex, text, object and date data (before,
silently cast: imaginary parts dropped, strings parsed)."""
import math
import unittest

import arnet
from helpers import needs_numpy, np


class NanLabelTest(unittest.TestCase):
    def test_nan_label_refused_list(self):
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.roc_auc([.1, .2, .3], [0, float("nan"), 1])
        self.assertIn("label 1 is NaN", str(cm.exception))
        for fn in (arnet.average_precision, arnet.pr_auc):
            with self.assertRaises(arnet.ArnetError):
                fn([.1, .2, .3], [0, math.nan, 1])

    @needs_numpy
    def test_nan_label_refused_numpy(self):
        for dtype in (np.float32, np.float64, np.float16):
            with self.assertRaises(arnet.ArnetError) as cm:
                arnet.roc_auc([.1, .2, .3], np.array([0, 1, np.nan], dtype=dtype))
            self.assertIn("label 2 is NaN", str(cm.exception))

    def test_nan_frame_label_refused(self):
        ds = arnet.Dataset(2)
        with self.assertRaises(arnet.ArnetError) as cm:
            ds.add([[0.0, 1.0]], 1, frame_labels=[0] * 8 + [float("nan")] * 8)
        self.assertIn("NaN", str(cm.exception))
        self.assertEqual(len(ds), 0)

    def test_valid_labels_still_work(self):
        self.assertEqual(arnet.roc_auc([.1, .2, .3], [0, 0.0, 2]), 1.0)
        self.assertEqual(arnet.roc_auc([.1, .2, .3], [False, False, True]), 1.0)


class NonNumericTest(unittest.TestCase):
    def test_python_values_refused(self):
        for bad in (["0.1", "0.2", "0.3"], [1j, 0.2, 0.3], [b"1", 2, 3]):
            with self.assertRaises(TypeError):
                arnet.roc_auc(bad, [0, 1, 1])
            with self.assertRaises(TypeError):
                arnet.roc_auc([.1, .2, .3], bad)
        m = arnet.Model(feature_dim=2)
        with self.assertRaises(TypeError):
            m.score([["1", "2"]])

    @needs_numpy
    def test_numpy_kinds_refused(self):
        bad = [np.array([1 + 1j, 2, 3]), np.array(["1", "2", "3"]),
               np.array([b"1", b"2", b"3"]), np.array([1, 2, 3], dtype=object),
               np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
               np.array([1, 2, 3], dtype="timedelta64[s]")]
        for arr in bad:
            with self.assertRaises(TypeError) as cm:
                arnet.roc_auc(arr, [0, 1, 1])
            self.assertIn(str(arr.dtype), str(cm.exception))
            with self.assertRaises(TypeError):
                arnet.roc_auc([.1, .2, .3], arr)
        m = arnet.Model(feature_dim=3)
        with self.assertRaises(TypeError):
            m.score(np.ones((2, 3), dtype=np.complex64))
        with self.assertRaises(TypeError):
            arnet.write_npy("/nonexistent/x.npy", np.array([1j]))

    @needs_numpy
    def test_real_numpy_kinds_accepted(self):
        for dtype in (np.int8, np.uint16, np.int64, np.float16, np.float64, np.bool_):
            self.assertEqual(arnet.roc_auc(np.array([.1, .2, .3]),
                                           np.array([0, 0, 1], dtype=dtype)), 1.0)


if __name__ == "__main__":
    unittest.main()
