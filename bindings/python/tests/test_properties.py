"""test_properties.py -- Hypothesis throws random shapes, dtypes, values and
argument ranges at the public functions.  Each call must end in a correct
result or a clean exception (ArnetError, ValueError, TypeError, OSError):
never a crash (the process would die), never another exception (OverflowError,
ctypes.ArgumentError), never a number silently wrapped into the C type.

Bounded and repeatable: derandomized, a fixed number of examples per
property, no example database (about 30 s in all).  Needs Debian's
python3-hypothesis and numpy (skips naming them otherwise)."""
import ctypes
import math
import os
import tempfile
import unittest

import arnet

try:
    import numpy as np
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st
    from hypothesis.extra import numpy as hnp
    HAVE = True
except ImportError as exc:  # pragma: no cover - depends on the interpreter
    HAVE = False
    MISSING = str(exc)

CLEAN = (arnet.ArnetError, ValueError, TypeError, OSError)

if HAVE:
    # No shrinking phase: a failure prints its (unshrunk) example at once
    # instead of searching for minutes.
    BOUNDED = settings(max_examples=int(os.environ.get("ARNET_HYPOTHESIS_EXAMPLES", "50")),
                       derandomize=True, database=None, deadline=None,
                       phases=[Phase.explicit, Phase.generate],
                       suppress_health_check=list(HealthCheck))

    # Integers around every C type's edges, and anything else a caller
    # might pass where C takes a number.
    EDGES = [0, 1, 2, 3, 16, 65536, 65537, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
             2 ** 32 + 5, 2 ** 63, 2 ** 64 - 1, 2 ** 64, 2 ** 64 + 3, 2 ** 100]
    INTS = st.one_of(st.sampled_from(EDGES + [-e for e in EDGES]),
                     st.integers(-2 ** 70, 2 ** 70), st.integers(-3, 300))
    FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([0.0, -0.0, 0.3, 0.5, 1.0, 1e-8, 3.5e38, 1e39, -1e39,
                                        1e300, float("nan"), float("inf")]))
    ANY_NUMBER = st.one_of(INTS, FLOATS, st.booleans(), st.none(), st.text(max_size=3),
                           st.sampled_from([np.int64(7), np.uint64(2 ** 64 - 1),
                                            np.float32(0.25), np.int8(-1)]))
    DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.int64,
                              np.uint8, np.bool_, np.complex64])
    ARRAYS = DTYPES.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))


def _int_limits(ctype):
    bits = 8 * ctypes.sizeof(ctype)
    signed = ctype(-1).value == -1
    return (-2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


def _fits(value, ctype):
    """Whether a value would reach C unchanged as ctype."""
    if isinstance(value, bool):
        return True
    try:
        import operator
        v = operator.index(value)
    except TypeError:
        return False
    lo, hi = _int_limits(ctype)
    return lo <= v <= hi


@unittest.skipUnless(HAVE, "needs Debian's python3-hypothesis and python3-numpy"
                     if not HAVE else "")
class PropertyTest(unittest.TestCase):
    def outcome(self, fn):
        """fn's result, or None after a clean exception; anything else fails."""
        try:
            return fn()
        except CLEAN:
            return None

    # ---- numbers into option structs ----------------------------------------

    if HAVE:
        @BOUNDED
        @given(name=st.sampled_from(["normal_per_batch", "anomalous_per_batch", "max_clips",
                                     "seed", "threads", "iterations", "alpha", "lam", "lr",
                                     "beta1", "beta2", "eps", "weight_decay"]),
               value=ANY_NUMBER)
        def test_trainer_options(self, name, value):
            m = arnet.Model(feature_dim=4)
            t = self.outcome(lambda: arnet.Trainer(m, **{name: value}))
            field = {"lam": "lambda_"}.get(name, name)
            ctype = dict(arnet._lib.TrainOptions._fields_)[field]
            if t is None:
                return
            got = t.options["lambda" if name == "lam" else name]
            if ctype is ctypes.c_float:
                v = float(value)
                self.assertTrue(math.isnan(v) or abs(v) <= 3.4028234663852886e38)
                if math.isfinite(v):
                    self.assertAlmostEqual(got, ctypes.c_float(v).value,
                                           delta=abs(v) * 1e-6 + 1e-45)
            else:
                self.assertTrue(_fits(value, ctype), (name, value))
                self.assertEqual(got, int(value))  # never wrapped

        @BOUNDED
        @given(kw=st.dictionaries(st.sampled_from(["window", "ema_alpha", "on_threshold",
                                                   "off_threshold", "min_on_clips",
                                                   "min_off_clips", "fps", "clip_frames",
                                                   "stream_id"]),
                                  ANY_NUMBER, max_size=3),
               smoothing=st.sampled_from(["none", "window", "ema", "median"]),
               scores=st.lists(FLOATS, max_size=8))
        def test_stream(self, kw, smoothing, scores):
            s = self.outcome(lambda: arnet.Stream(smoothing=smoothing, **kw))
            if s is None:
                return
            for name, value in kw.items():
                if value is None:
                    continue  # the default (or the model's calibration)
                ctype = dict(arnet._lib.StreamOptions._fields_)[name]
                if ctype not in (ctypes.c_float, ctypes.c_double):
                    self.assertTrue(_fits(value, ctype), (name, value))
                    got = s.stream_id if name == "stream_id" else s.options[name]
                    self.assertEqual(got, int(value))
            for x in scores:
                r = self.outcome(lambda: s.update(x))
                if r is not None:
                    self.assertEqual(r.clip_index + 1, s.state["clips"])

        @BOUNDED
        @given(feature_dim=ANY_NUMBER, hidden_dim=ANY_NUMBER, dropout=FLOATS, seed=ANY_NUMBER)
        def test_model_create(self, feature_dim, hidden_dim, dropout, seed):
            small = lambda v: not _fits(v, ctypes.c_uint32) or int(v) <= 64  # noqa: E731
            if not (small(feature_dim) and small(hidden_dim)):
                return  # a legal 4-billion-wide model is an allocation, not a wrap
            m = self.outcome(lambda: arnet.Model(feature_dim=feature_dim, hidden_dim=hidden_dim,
                                                 dropout=dropout, seed=seed))
            if m is not None:
                self.assertEqual(m.feature_dim, int(feature_dim))
                self.assertTrue(_fits(seed, ctypes.c_uint64))

        @BOUNDED
        @given(max_batch=ANY_NUMBER, threads=ANY_NUMBER)
        def test_scorer_create(self, max_batch, threads):
            if _fits(max_batch, ctypes.c_size_t) and int(max_batch) > 4096:
                max_batch = 4096 + int(max_batch) % 7  # legal: keep the memory small
            if _fits(threads, ctypes.c_int) and int(threads) > 4:
                threads = 1 + int(threads) % 4  # a legal team of 1024 threads is slow, not wrong
            m = arnet.Model(feature_dim=4)
            s = self.outcome(lambda: arnet.Scorer(m, max_batch=max_batch, threads=threads))
            if s is not None:
                self.assertTrue(_fits(max_batch, ctypes.c_size_t))
                self.assertTrue(_fits(threads, ctypes.c_int))
                self.assertGreater(s.memory, 0)

        # ---- arrays of any shape and dtype --------------------------------------

        @BOUNDED
        @given(x=ARRAYS, order=st.sampled_from(["C", "F", "strided"]))
        def test_score_arrays(self, x, order):
            m = arnet.Model(feature_dim=3, seed=5)
            if order == "F":
                x = np.asfortranarray(x)
            elif order == "strided" and x.ndim >= 1:
                x = x[::-1]
            out = self.outcome(lambda: m.score(x))
            if out is None:
                return
            # A correct result: the network computed here in float64 (a
            # [T, C, F] array's crops are averaged: checked elsewhere).
            self.assertIn(x.ndim, (1, 2, 3))
            if x.ndim == 3:
                return
            rows = np.asarray(x, np.float32).reshape(-1, 3).astype(np.float64)
            p = m.get_params()
            w1, b1 = np.asarray(p["w1"], np.float64), np.asarray(p["b1"], np.float64)
            w2 = np.asarray(p["w2"], np.float64).ravel()
            h = np.maximum(rows @ w1.reshape(len(b1), 3).T + b1, 0)
            with np.errstate(all="ignore"):
                ref = 1 / (1 + np.exp(-(h @ w2 + p["b2"])))
            self.assertEqual(len(out), len(rows))
            finite = np.isfinite(ref)
            np.testing.assert_allclose(np.asarray(out)[finite], ref[finite], atol=1e-5)

        @BOUNDED
        @given(scores=ARRAYS, labels=ARRAYS,
               fn=st.sampled_from(["roc_auc", "average_precision", "pr_auc"]))
        def test_metrics(self, scores, labels, fn):
            v = self.outcome(lambda: getattr(arnet, fn)(scores, labels))
            if v is not None:
                self.assertTrue(math.isnan(v) or 0.0 <= v <= 1.0, v)

        @BOUNDED
        @given(logits=ARRAYS, label=ANY_NUMBER, alpha=FLOATS,
               fn=st.sampled_from(["loss_dmil", "loss_kmax_mil", "loss_center"]))
        def test_losses(self, logits, label, alpha, fn):
            f = getattr(arnet, fn)
            call = (lambda: f(logits, label)) if fn == "loss_center" else \
                (lambda: f(logits, label, alpha))
            r = self.outcome(call)
            if r is not None:
                self.assertTrue(_fits(label, ctypes.c_int))
                loss, grad = r
                self.assertEqual(len(grad), np.asarray(logits).size)

        @BOUNDED
        @given(scores=ARRAYS, far=ANY_NUMBER)
        def test_threshold_for_far(self, scores, far):
            r = self.outcome(lambda: arnet.threshold_for_far(scores, far))
            if r is not None:
                threshold, achieved = r
                self.assertLessEqual(achieved, float(far) + 1e-12)

        @BOUNDED
        @given(data=ARRAYS, shape=st.one_of(st.none(), st.lists(INTS, max_size=4)))
        def test_npy_round_trip(self, data, shape):
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "x.npy")
                if self.outcome(lambda: arnet.write_npy(p, data, shape)) is None and \
                        not os.path.exists(p):
                    self.assertEqual(os.listdir(d), [])  # nothing half-written
                    return
                back = np.load(p)
                np.testing.assert_array_equal(back.ravel(),
                                              np.asarray(data, np.float32).ravel())

        @BOUNDED
        @given(feature_dim=ANY_NUMBER, features=ARRAYS, label=ANY_NUMBER)
        def test_dataset_add(self, feature_dim, features, label):
            if _fits(feature_dim, ctypes.c_uint32) and int(feature_dim) > 64:
                return
            ds = self.outcome(lambda: arnet.Dataset(feature_dim=feature_dim))
            if ds is None:
                self.assertFalse(_fits(feature_dim, ctypes.c_uint32) and
                                 not isinstance(feature_dim, (float, str)))
                return
            self.outcome(lambda: ds.add(features, label))
            self.assertLessEqual(len(ds), 1)

        @BOUNDED
        @given(blob=st.one_of(st.binary(max_size=200),
                              st.sampled_from([b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', "
                                               b"'fortran_order': False, 'shape': (2**62, 3), }",
                                               b"ARNET\x00\x00\x00" + b"\xff" * 64])),
               fn=st.sampled_from(["read_npy", "read_npy_labels", "load", "file_info",
                                   "from_manifest", "from_bytes"]))
        def test_hostile_files(self, blob, fn):
            # Random bytes as every kind of file: a clean error, never a crash
            # or a huge allocation.
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "f")
                with open(p, "wb") as f:
                    f.write(blob)
                call = {"read_npy": lambda: arnet.read_npy(p),
                        "read_npy_labels": lambda: arnet.read_npy_labels(p),
                        "load": lambda: arnet.Model.load(p),
                        "file_info": lambda: arnet.file_info(p),
                        "from_manifest": lambda: arnet.Dataset.from_manifest(p),
                        "from_bytes": lambda: arnet.Model.from_bytes(blob)}[fn]
                self.outcome(call)

        @BOUNDED
        @given(seed=ANY_NUMBER, feature_dim=ANY_NUMBER, scale=FLOATS,
               gt_rule=st.sampled_from(["truncate", "pad-last", "other"]),
               clip_frames=ANY_NUMBER, far_threshold=FLOATS)
        def test_synth_evaluate(self, seed, feature_dim, scale, gt_rule, clip_frames,
                                far_threshold):
            if _fits(feature_dim, ctypes.c_uint32) and int(feature_dim) > 16:
                return  # legal, and only slower
            r = self.outcome(lambda: arnet.synth(seed=seed, feature_dim=feature_dim,
                                                 scale=scale))
            if r is None:
                return
            self.assertTrue(_fits(seed, ctypes.c_uint64))
            train, test = r
            m = arnet.Model(feature_dim=test.feature_dim)
            res = self.outcome(lambda: arnet.evaluate(m, test, gt_rule=gt_rule,
                                                      clip_frames=clip_frames,
                                                      far_threshold=far_threshold))
            if res is not None:
                self.assertTrue(_fits(clip_frames, ctypes.c_uint32))
                self.assertEqual(res["videos"], len(test))


if __name__ == "__main__":
    unittest.main()
