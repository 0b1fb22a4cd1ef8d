"""test_scoring.py -- arnet.Scorer (equal to Model.score, batch-independent,
keeps its model alive, one thread at a time) and arnet.Stream (smoothing,
hysteresis events through the Python callback, errors from the callback,
push_streams equal to single pushes)."""
import threading
import math
import unittest

import arnet
from helpers import rows, to_list


class ScorerTest(unittest.TestCase):
    def test_equals_model_and_batch_independent(self):
        m = arnet.Model(feature_dim=12, seed=3)
        x = rows(40, 12, seed=2, lo=0, hi=1)
        want = to_list(m.score(x))
        small = arnet.Scorer(m, max_batch=7)
        big = arnet.Scorer(m, max_batch=256, threads=2)
        got_small = to_list(small.score(x))
        self.assertEqual(got_small, to_list(big.score(x)))
        for g, w in zip(got_small, want):
            self.assertAlmostEqual(g, w, delta=1e-6)
        # A clip scores the same alone as in a batch.
        self.assertEqual(to_list(small.score([x[5]]))[0], got_small[5])
        self.assertEqual(small.memory, 4 * 7 * (12 + 1) + 40)

    def test_keeps_model_alive(self):
        m = arnet.Model(feature_dim=4, seed=1)
        x = rows(3, 4)
        want = to_list(m.score(x))
        s = arnet.Scorer(m)
        m.close()  # the scorer still holds the C model
        self.assertTrue(m.closed)
        self.assertEqual(to_list(s.score(x)), want)
        s.close()
        with self.assertRaises(arnet.ArnetError):
            s.score(x)

    def test_bad_options(self):
        m = arnet.Model(feature_dim=4)
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Scorer(m, max_batch=0)
        self.assertIn("max_batch", cm.exception.message)

    def test_threads_each_with_a_scorer(self):
        m = arnet.Model(feature_dim=32, seed=5)
        x = rows(64, 32, seed=7)
        want = to_list(arnet.Scorer(m).score(x))
        results = []

        def work():
            s = arnet.Scorer(m)
            for _ in range(20):
                results.append(to_list(s.score(x)) == want)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [True] * 80)

    def test_shared_scorer_is_refused_not_corrupted(self):
        # Two threads on one scorer: every call either succeeds with the right
        # scores or raises E_STATE; nothing else.
        m = arnet.Model(feature_dim=64, seed=5)
        x = rows(256, 64, seed=7)
        s = arnet.Scorer(m)
        want = to_list(s.score(x))
        bad = []

        def work():
            for _ in range(30):
                try:
                    if to_list(s.score(x)) != want:
                        bad.append("wrong scores")
                except arnet.ArnetError as e:
                    if e.status != arnet.E_STATE:
                        bad.append(str(e))

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(bad, [])


class StreamTest(unittest.TestCase):
    def test_window_smoothing_and_events(self):
        events = []
        st = arnet.Stream(on_event=events.append, stream_id=42, window=2, on_threshold=0.5,
                          off_threshold=0.3, min_on_clips=2, min_off_clips=2)
        raw = [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
        out = [st.update(r) for r in raw]
        # Window of 2: mean of the clips there are.
        self.assertEqual([r.smoothed for r in out], [0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0])
        # On-run starts at clip 1 (0.5 >= 0.5), completes at clip 2;
        # off-run (< 0.3) starts at clip 5, completes at clip 6.
        self.assertEqual([r.event for r in out],
                         [None, None, "start", None, None, None, "end", None])
        self.assertEqual([r.alarm for r in out],
                         [False, False, True, True, True, True, False, False])
        self.assertEqual(len(events), 2)
        start, end = events
        self.assertEqual((start.type, start.stream_id, start.start_clip), ("start", 42, 1))
        self.assertEqual((end.type, end.start_clip, end.end_clip), ("end", 1, 4))
        self.assertEqual(end.peak_score, 1.0)
        state = st.state
        self.assertEqual((state["clips"], state["alarms"], state["alarm"]), (8, 1, False))
        st.reset()
        self.assertEqual(st.state["clips"], 0)

    def test_seconds_and_calibration(self):
        # As C streams: fps and clip_frames give events seconds; a
        # calibrated model gives thresholds and fps; explicit arguments win.
        events = []
        st = arnet.Stream(on_event=events.append, smoothing="none", min_on_clips=1,
                          min_off_clips=1, fps=25, clip_frames=16)
        self.assertEqual((st.fps, st.clip_frames), (25.0, 16))
        for r in [0.0, 0.0, 1.0, 1.0, 0.0]:
            st.update(r)
        start, end = events
        self.assertEqual((start.start_clip, end.end_clip), (2, 3))
        self.assertAlmostEqual(start.start_seconds, 2 * 16 / 25.0)
        self.assertIsNone(start.end_seconds)
        self.assertAlmostEqual(end.end_seconds, 4 * 16 / 25.0)
        # Without fps: no seconds.
        ev = []
        st = arnet.Stream(on_event=ev.append, smoothing="none", min_on_clips=1)
        st.update(1.0)
        self.assertIsNone(ev[0].start_seconds)

        m = arnet.Model(feature_dim=4)
        plain = arnet.Stream(model=m)  # no calibration: the defaults
        self.assertEqual((plain.options["on_threshold"], plain.options["fps"]), (0.5, 0.0))
        m.set_meta("calibration.threshold", "0.8")
        m.set_meta("calibration.fps", "30")
        st = arnet.Stream(model=m)
        self.assertAlmostEqual(st.options["on_threshold"], 0.8, places=6)
        self.assertAlmostEqual(st.options["off_threshold"], 0.48, places=6)
        self.assertEqual(st.fps, 30.0)
        st = arnet.Stream(model=m, on_threshold=0.9, fps=10)
        self.assertAlmostEqual(st.options["on_threshold"], 0.9, places=6)
        self.assertAlmostEqual(st.options["off_threshold"], 0.48, places=6)
        self.assertEqual(st.fps, 10.0)
        m.set_meta("calibration.threshold", "-3")
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Stream(model=m)
        self.assertEqual(cm.exception.status, arnet.E_FORMAT)
        self.assertIn("calibration.threshold", str(cm.exception))
        with self.assertRaises(ValueError):
            arnet.Stream(fps=-1)
        with self.assertRaises(ValueError):
            arnet.Stream(clip_frames=2**32)

    def test_ema(self):
        st = arnet.Stream(smoothing="ema", ema_alpha=0.5)
        got = [st.update(r).smoothed for r in (1.0, 0.0, 0.0)]
        self.assertEqual(got, [1.0, 0.5, 0.25])

    def test_callback_error_is_raised_after_the_clip(self):
        def boom(ev):
            raise ValueError("from the callback")

        st = arnet.Stream(on_event=boom, smoothing="none", min_on_clips=1)
        with self.assertRaises(ValueError):
            st.update(0.9)
        self.assertEqual(st.state["clips"], 1)
        self.assertTrue(st.state["alarm"])
        st.update(0.9)  # no event, no error

    def test_callback_must_not_reenter_its_stream(self):
        box = []

        def reenter(ev):
            box[0].update(0.0)

        st = arnet.Stream(on_event=reenter, smoothing="none", min_on_clips=1)
        box.append(st)
        with self.assertRaises(arnet.ArnetError) as cm:
            st.update(0.9)
        self.assertEqual(cm.exception.status, arnet.E_STATE)
        self.assertEqual(st.state["clips"], 1)  # the inner update never ran

    def test_bad_options_and_scores(self):
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Stream(on_threshold=0.2, off_threshold=0.4)
        self.assertIn("off_threshold", cm.exception.message)
        with self.assertRaises(arnet.ArnetError):
            arnet.Stream(smoothing="median")
        st = arnet.Stream()
        with self.assertRaises(arnet.ArnetError) as cm:
            st.update(float("nan"))
        self.assertEqual(cm.exception.status, arnet.E_INVALID)
        self.assertEqual(st.state["clips"], 0)

    def test_push_and_push_streams(self):
        m = arnet.Model(feature_dim=8, seed=2)
        m.set_params(b2=2.0)  # high scores: alarms happen
        sc = arnet.Scorer(m, max_batch=2)
        feats = [rows(6, 8, seed=10 + i, lo=0, hi=1) for i in range(3)]
        ev_single, ev_batch = [], []
        single = [arnet.Stream(on_event=ev_single.append, stream_id=i) for i in range(3)]
        batch = [arnet.Stream(on_event=ev_batch.append, stream_id=i) for i in range(3)]
        for t in range(6):
            a = [single[i].push(sc, feats[i][t]) for i in range(3)]
            b = sc.push_streams(batch, [feats[i][t] for i in range(3)])
            self.assertEqual(a, b)
            self.assertEqual([r.raw for r in a],
                             [to_list(m.score([feats[i][t]]))[0] for i in range(3)])
        self.assertEqual(sorted(ev_single), sorted(ev_batch))
        self.assertGreater(len(ev_single), 0)
        with self.assertRaises(arnet.ArnetError):
            sc.push_streams([batch[0], batch[0]], [feats[0][0], feats[0][0]])
        with self.assertRaises(arnet.ArnetError) as cm:
            single[0].push(sc, [0.0] * 7)
        self.assertEqual(cm.exception.status, arnet.E_SHAPE)


if __name__ == "__main__":
    unittest.main()
