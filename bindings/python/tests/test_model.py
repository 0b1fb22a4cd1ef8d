"""test_model.py -- arnet.Model: creation, scoring against a double-precision
reference, every accepted input kind, the no-copy promise, parameters,
metadata, lifetime."""
import array
import ctypes
import gc
import os
import struct
import unittest

import arnet
from arnet import _buffers, _lib
from helpers import np, needs_numpy, reference_scores, rows, to_list


class ModelTest(unittest.TestCase):
    def test_defaults_and_config(self):
        with arnet.Model(feature_dim=12, seed=5) as m:
            self.assertEqual(m.feature_dim, 12)
            self.assertEqual(m.hidden_dim, 12)  # 0 means feature_dim
            cfg = m.config
            self.assertEqual(cfg["seed"], 5)
            self.assertAlmostEqual(cfg["dropout"], 0.7, places=6)
        m = arnet.Model(feature_dim=10, hidden_dim=4, dropout=0.5)
        self.assertEqual((m.feature_dim, m.hidden_dim), (10, 4))
        self.assertAlmostEqual(m.dropout, 0.5)

    def test_score_matches_double_reference(self):
        m = arnet.Model(feature_dim=24, hidden_dim=16, seed=7)
        # Non-zero biases so that every parameter matters.
        p = m.get_params()
        b1 = [0.01 * (i - 8) for i in range(16)]
        m.set_params(b1=b1, b2=0.25)
        x = rows(9, 24, seed=1, lo=0.0, hi=2.0)
        got = to_list(m.score(x))
        want = reference_scores(m.get_params(), x)
        self.assertEqual(len(got), 9)
        for g, w in zip(got, want):
            self.assertAlmostEqual(g, w, delta=2e-6)
        # The reference itself is not trivially satisfied: scores vary.
        self.assertGreater(max(want) - min(want), 1e-3)
        self.assertEqual(to_list(m.get_params()["w1"]), to_list(p["w1"]))

    def test_same_seed_same_weights(self):
        a = arnet.Model(feature_dim=16, seed=3).get_params()
        b = arnet.Model(feature_dim=16, seed=3).get_params()
        c = arnet.Model(feature_dim=16, seed=4).get_params()
        self.assertEqual(to_list(a["w1"]), to_list(b["w1"]))
        self.assertNotEqual(to_list(a["w1"]), to_list(c["w1"]))
        self.assertEqual(to_list(a["b1"]), [0.0] * 16)
        self.assertEqual(a["b2"], 0.0)

    def test_result_type(self):
        m = arnet.Model(feature_dim=4)
        s = m.score([[1, 2, 3, 4], [0, 0, 0, 0]])
        if np is not None:
            self.assertIsInstance(s, np.ndarray)
            self.assertEqual(s.dtype, np.float32)
            self.assertEqual(s.shape, (2,))
        else:
            self.assertIsInstance(s, list)
            self.assertTrue(all(isinstance(v, float) for v in s))
        self.assertEqual(len(m.score([])), 0)

    def test_input_kinds_agree(self):
        m = arnet.Model(feature_dim=6, seed=2)
        x = rows(5, 6, seed=3)
        want = to_list(m.score(x))
        flat = [v for r in x for v in r]
        kinds = {
            "tuple of tuples": tuple(tuple(r) for r in x),
            "generator rows": [iter(r) and list(r) for r in x],
            "flat list": flat,
            "array('f')": array.array("f", flat),
            "array('d')": array.array("d", flat),
            "bytes": array.array("f", flat).tobytes(),
            "bytearray": bytearray(array.array("f", flat).tobytes()),
            "memoryview 2-D": memoryview(array.array("f", flat)).cast("B").cast("f", (5, 6)),
        }
        if np is not None:
            kinds["numpy float64"] = np.array(x)
            kinds["numpy float32 Fortran"] = np.asfortranarray(np.array(x, dtype=np.float32))
            kinds["numpy strided"] = np.repeat(np.array(x, dtype=np.float32), 2, axis=0)[::2]
            kinds["numpy 1-D"] = np.array(flat, dtype=np.float32)
        for name, value in kinds.items():
            with self.subTest(kind=name):
                self.assertEqual(to_list(m.score(value)), want)

    def test_shape_errors(self):
        m = arnet.Model(feature_dim=6)
        for bad in ([[1, 2, 3]], [[0] * 6, [0] * 5], [0.0] * 7,
                    array.array("f", [0.0] * 9)):
            with self.assertRaises(arnet.ArnetError) as cm:
                m.score(bad)
            self.assertEqual(cm.exception.status, arnet.E_SHAPE)

    def test_nonfinite_feature_rejected_or_scored(self):
        # NaN input gives a NaN score or an ArnetError, never a crash.
        m = arnet.Model(feature_dim=3)
        try:
            s = to_list(m.score([[float("nan"), 0, 0]]))
            self.assertEqual(len(s), 1)
        except arnet.ArnetError as e:
            self.assertEqual(e.status, arnet.E_INVALID)

    @needs_numpy
    def test_float32_c_contiguous_not_copied(self):
        m = arnet.Model(feature_dim=8)
        x = np.asarray(rows(4, 8, seed=9), dtype=np.float32)
        conv = _buffers.as_float_matrix(x, 8)
        self.assertFalse(conv.copied)
        self.assertEqual(conv.ptr, x.ctypes.data)
        self.assertIs(conv.keep, x)
        # And the pointer arnet_model_score actually receives is the array's.
        seen = []
        original = _lib.lib.arnet_model_score

        def spy(model, features, n, scores):
            seen.append((features.value, n))
            return original(model, features, n, scores)

        _lib.lib.arnet_model_score = spy
        try:
            m.score(x)
            m.score(x.astype(np.float64))
        finally:
            _lib.lib.arnet_model_score = original
        self.assertEqual(seen[0], (x.ctypes.data, 4))
        self.assertNotEqual(seen[1][0], x.ctypes.data)

    def test_writable_float_buffer_not_copied(self):
        buf = array.array("f", [0.5] * 16)
        conv = _buffers.as_float_matrix(buf, 8)
        self.assertFalse(conv.copied)
        self.assertEqual(conv.ptr, buf.buffer_info()[0])
        self.assertEqual((conv.rows, conv.cols), (2, 8))
        # Read-only buffers are copied (ctypes cannot take their address).
        self.assertTrue(_buffers.as_float_matrix(buf.tobytes(), 8).copied)

    def test_params_round_trip(self):
        m = arnet.Model(feature_dim=3, hidden_dim=2)
        w1 = [[1, 2, 3], [4, 5, 6]]
        m.set_params(w1=w1, b1=[0.5, -0.5], w2=[1.5, -2.0], b2=0.125)
        p = m.get_params()
        self.assertEqual(to_list(p["w1"]), [[1, 2, 3], [4, 5, 6]])
        self.assertEqual(to_list(p["b1"]), [0.5, -0.5])
        self.assertEqual(to_list(p["w2"]), [1.5, -2.0])
        self.assertEqual(p["b2"], 0.125)
        # Hand-computed: h = relu([1+0.5, 4-0.5]) = [1.5, 3.5] for x = e1;
        # z = 1.5*1.5 - 2*3.5 + 0.125 = -4.625.
        s = to_list(m.score([[1, 0, 0]]))[0]
        self.assertAlmostEqual(s, 1 / (1 + 2.718281828459045 ** 4.625), places=6)
        with self.assertRaises(arnet.ArnetError) as cm:
            m.set_params(b1=[1, 2, 3])
        self.assertEqual(cm.exception.status, arnet.E_SHAPE)

    def test_meta(self):
        m = arnet.Model(feature_dim=2)
        self.assertEqual(len(m.meta), 0)
        m.meta["dataset"] = "shanghaitech"
        m.meta["steps"] = 10  # stored as text
        m.set_meta("note", "ünïcode ok")
        self.assertEqual(list(m.meta), ["dataset", "steps", "note"])
        self.assertEqual(m.meta["steps"], "10")
        self.assertEqual(m.get_meta("note"), "ünïcode ok")
        self.assertIsNone(m.get_meta("missing"))
        self.assertEqual(m.get_meta("missing", "x"), "x")
        del m.meta["dataset"]
        self.assertEqual(dict(m.meta), {"steps": "10", "note": "ünïcode ok"})
        with self.assertRaises(KeyError):
            m.meta["dataset"]
        with self.assertRaises(KeyError):
            del m.meta["dataset"]
        with self.assertRaises(arnet.ArnetError) as cm:
            m.meta["has space"] = "x"
        self.assertEqual(cm.exception.status, arnet.E_INVALID)
        self.assertIn("has space", cm.exception.message)

    def test_closed_model(self):
        m = arnet.Model(feature_dim=2)
        m.close()
        m.close()  # twice is fine
        self.assertTrue(m.closed)
        with self.assertRaises(arnet.ArnetError) as cm:
            m.score([[0, 0]])
        self.assertEqual(cm.exception.status, arnet.E_STATE)
        self.assertIn("closed", cm.exception.message)
        self.assertIn("closed", repr(m))

    def test_many_models_freed(self):
        # Dropping a model frees its C memory (Handle's finalizer calls
        # arnet_model_free): 200 models of 1 MiB of weights each leave the
        # resident size where it was; kept alive, they would add 200 MiB.
        statm = "/proc/self/statm"
        if not os.path.exists(statm):
            self.skipTest("no /proc/self/statm to measure the resident size")

        def resident():
            with open(statm) as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

        arnet.Model(feature_dim=512, seed=0)  # warm up BLIS, the allocator
        gc.collect()
        before = resident()
        for i in range(200):
            m = arnet.Model(feature_dim=512, seed=i)
            m.score([[1.0] * 512])  # touch the weights: they are resident
            del m
        gc.collect()
        grown = resident() - before
        self.assertLess(grown, 50 << 20, "resident size grew by %d MiB" % (grown >> 20))

    def test_versions(self):
        self.assertEqual(arnet.abi_version(), 0)
        self.assertRegex(arnet.version(), r"^\d+\.\d+\.\d+$")
        self.assertTrue(arnet.blas_arch())
        self.assertTrue(arnet.library_path)



class CropScoreTest(unittest.TestCase):
    """Model.score takes [T, C, F] as `arnet score` does: the same floats as
    arnet_npy_read of the same array written to a file."""

    def _crops(self, t, c, f, seed):
        return [[[v for v in row] for row in rows(c, f, seed=seed + k)] for k in range(t)]

    def test_ten_crops_like_the_reader(self):
        import tempfile
        m = arnet.Model(feature_dim=6, hidden_dim=4, seed=3)
        x = self._crops(7, 10, 6, seed=11)  # [T, C, F]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.npy")
            flat = [v for t in x for c in t for v in c]
            _write_npy(path, flat, (7, 10, 6))
            for crop in (-1, 4):
                want = to_list(m.score(arnet.read_npy(path, crop=crop)))
                self.assertEqual(to_list(m.score(x, crop=crop)), want)
                if np is not None:
                    self.assertEqual(to_list(m.score(np.array(x, dtype=np.float32),
                                                     crop=crop)), want)
            # Crop-first: refused by the rule, read with layout="ctf".
            ctf = [[x[t][c] for t in range(7)] for c in range(10)]
            with self.assertRaises(arnet.ArnetError) as cm:
                m.score(ctf)
            self.assertIn("layout='ctf'", str(cm.exception))
            self.assertEqual(to_list(m.score(ctf, layout="ctf")),
                             to_list(m.score(x)))
            if np is not None:
                a = np.array(ctf, dtype=np.float32)
                with self.assertRaises(arnet.ArnetError):
                    m.score(a)
                self.assertEqual(to_list(m.score(a, layout="ctf")), to_list(m.score(x)))
                with self.assertRaises(arnet.ArnetError):
                    m.score(np.zeros((10, 10, 6), dtype=np.float32))
                with self.assertRaises(arnet.ArnetError):
                    m.score(a, layout="cft")
                with self.assertRaises(arnet.ArnetError):
                    m.score(np.array(x, dtype=np.float32), crop=10)


class MappedDatasetTest(unittest.TestCase):
    def test_mmap_evaluates_as_loaded(self):
        import tempfile
        m = arnet.Model(feature_dim=6, hidden_dim=4, seed=3)
        with tempfile.TemporaryDirectory() as d:
            lines = []
            for v in range(4):
                x = [[[v for v in row] for row in rows(10, 6, seed=30 + 7 * v + k)]
                     for k in range(12 + v)]
                flat = [a for t in x for c in t for a in c]
                _write_npy(os.path.join(d, "v%d.npy" % v), flat, (12 + v, 10, 6))
                lines.append("v%d.npy %d%s" % (v, v % 2, " 0-40" if v % 2 else ""))
            with open(os.path.join(d, "m.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
            a = arnet.Dataset.from_manifest(os.path.join(d, "m.txt"))
            b = arnet.Dataset.from_manifest(os.path.join(d, "m.txt"), mmap=True)
            self.assertIsNone(b[0].features)
            ra, rb = arnet.evaluate(m, a), arnet.evaluate(m, b)
            self.assertEqual(ra["auc"], rb["auc"])
            self.assertEqual([p["mean_score"] for p in ra["per_video"]],
                             [p["mean_score"] for p in rb["per_video"]])
            c = arnet.Dataset.from_manifest(os.path.join(d, "m.txt"), crop="each")
            self.assertEqual(len(c), 40)


def _write_npy(path, flat, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(n) for n in shape))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(flat), *flat))

if __name__ == "__main__":
    unittest.main()
