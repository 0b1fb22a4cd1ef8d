"""test_lifetime.py -- a handle stays alive while any call on it runs:
close() from another thread during Model.score, Scorer.score, evaluate
(Dataset.close and Model.close) and Trainer.step waits for the call instead
of freeing memory under it (the C functions run without the GIL, so before
the fix this was a use-after-free that crashed the interpreter most runs)."""
import array
import threading
import time
import unittest

import arnet
from arnet import _lib

F = 1024


def big_features(n_clips, seed=1):
    """n_clips x F float32 values without numpy: a 16-row pattern repeated."""
    pattern = array.array("f", [((i * 7919 + seed * 104729) % 1000) / 1000.0
                                for i in range(16 * F)])
    return pattern * (n_clips // 16)


class Racer(object):
    """Run fn on a thread; give close() a moment to hit it mid-call."""

    def __init__(self, fn):
        self.result = None
        self.error = None

        def run():
            try:
                self.result = fn()
            except BaseException as exc:  # reported by the test
                self.error = exc

        self.thread = threading.Thread(target=run)

    def start_and_wait_inside(self, handle):
        self.thread.start()
        # The fixed library marks the call's use of the handle: wait for it
        # (bounded, since a library that does not would never mark it), then
        # a little more so the C function is surely running.
        deadline = time.time() + 0.05
        while time.time() < deadline and getattr(handle, "users", 0) == 0:
            time.sleep(0.001)
        time.sleep(0.02)

    def join(self):
        self.thread.join(60)
        return self.result


class CloseDuringCallTest(unittest.TestCase):
    def test_model_close_during_score(self):
        m = arnet.Model(feature_dim=F, seed=2)
        x = big_features(16384)
        want = list(m.score(x[:16 * F]))
        for _ in range(2):
            m = arnet.Model(feature_dim=F, seed=2)
            r = Racer(lambda: m.score(x))
            r.start_and_wait_inside(m._h)
            h = m._h
            m.close()
            self.assertTrue(m.closed)
            got = r.join()
            self.assertIsNone(r.error)
            self.assertEqual(list(got[:16]), want)
            self.assertIsNone(h.ptr)  # freed once the call ended
            with self.assertRaises(arnet.ArnetError) as cm:
                m.score(x[:F])
            self.assertIn("closed", str(cm.exception))

    def test_scorer_close_during_score(self):
        m = arnet.Model(feature_dim=F, seed=3)
        x = big_features(16384, seed=2)
        want = list(m.score(x[:16 * F]))
        for _ in range(2):
            s = arnet.Scorer(m, max_batch=1024)
            r = Racer(lambda: s.score(x))
            r.start_and_wait_inside(s._h)
            s.close()
            got = r.join()
            self.assertIsNone(r.error)
            self.assertEqual(list(got[:16]), want)
        self.assertFalse(m.closed)
        m.close()

    def test_dataset_and_model_close_during_evaluate(self):
        m = arnet.Model(feature_dim=F, seed=4)
        videos = [(big_features(2048, seed=i), i % 2) for i in range(8)]

        def make():
            ds = arnet.Dataset(F)
            for i, (x, label) in enumerate(videos):
                gt = None
                if label:
                    gt = array.array("B", [1 if (k // 512) % 2 else 0
                                           for k in range(2048 * 16)])
                ds.add(x, label, frame_labels=gt, name="v%d" % i)
            return ds

        want = arnet.evaluate(m, make())["auc"]
        for close_model in (False, True):
            mm = arnet.Model(feature_dim=F, seed=4)
            ds = make()
            r = Racer(lambda: arnet.evaluate(mm, ds))
            r.start_and_wait_inside(ds._h)
            ds.close()
            if close_model:
                mm.close()
            got = r.join()
            self.assertIsNone(r.error)
            self.assertEqual(got["auc"], want)
            with self.assertRaises(arnet.ArnetError):
                len(ds)

    def test_close_while_trainer_holds(self):
        # A Trainer borrows model and data set: closing them, then the
        # trainer during a step, frees all three only after the step.
        m = arnet.Model(feature_dim=64, seed=5)
        train, _ = arnet.synth(seed=1, feature_dim=64, scale=0.2)
        t = arnet.Trainer(m, train, iterations=1, seed=1, normal_per_batch=4,
                          anomalous_per_batch=4)
        t.step()
        mh, dh, th = m._h, train._h, t._h
        m.close()
        train.close()
        self.assertIsNotNone(mh.ptr)
        self.assertIsNotNone(dh.ptr)
        t.step()  # still trains: model and data set are held
        t.close()
        self.assertIsNone(th.ptr)
        self.assertIsNone(mh.ptr)
        self.assertIsNone(dh.ptr)

    def test_handle_refuses_use_after_close(self):
        m = arnet.Model(feature_dim=4)
        h = m._h
        with h.use():
            h.close()
            self.assertIsNotNone(h.ptr)  # still in use
            with self.assertRaises(arnet.ArnetError):
                h.use()
        self.assertIsNone(h.ptr)
        self.assertTrue(isinstance(h, _lib.Handle))


if __name__ == "__main__":
    unittest.main()
