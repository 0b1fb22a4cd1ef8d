"""test_trainer.py -- arnet.Trainer: options, learning a small synthetic
set, bit-for-bit reproducibility (fit equals repeated step, same seed same
model), resuming from a checkpoint equals an uninterrupted run, progress and
early stop, lifetime, errors."""
import os
import unittest

import arnet
from helpers import TempDir, needs, to_list

F = 32
OPTS = dict(normal_per_batch=6, anomalous_per_batch=5, lr=1e-3, max_clips=40)
_SETS = {}


def sets():
    if not _SETS:
        _SETS["train"], _SETS["test"] = arnet.synth(feature_dim=F, scale=0.2, seed=1)
    return _SETS["train"], _SETS["test"]


def params(model):
    p = model.get_params()
    return [to_list(p["w1"]), to_list(p["b1"]), to_list(p["w2"]), p["b2"]]


@needs("arnet_trainer_create", "arnet_trainer_step")
class TrainerTest(unittest.TestCase):
    def test_options(self):
        t = arnet.Trainer(arnet.Model(feature_dim=4), lam=5, lr=1e-3, loss="kmax-mil",
                          reduce="instance", seed=7, threads=2, max_clips=50)
        o = t.options
        self.assertEqual((o["lambda"], o["lr"], o["loss"], o["reduce"], o["seed"],
                          o["threads"], o["max_clips"]),
                         (5.0, 1e-3, "kmax-mil", "instance", 7, 2, 50))
        d = arnet.Trainer(arnet.Model(feature_dim=4)).options
        # The paper's defaults (docs/method.md).
        self.assertEqual((d["normal_per_batch"], d["anomalous_per_batch"], d["alpha"],
                          d["lambda"], d["lr"], d["weight_decay"], d["loss"], d["reduce"]),
                         (30, 30, 4.0, 20.0, 1e-4, 5e-4, "dmil-center", "video"))
        self.assertEqual(arnet.Trainer(arnet.Model(feature_dim=4), lambda_=3).options["lambda"],
                         3.0)
        with self.assertRaises(TypeError):
            arnet.Trainer(arnet.Model(feature_dim=4), learning_rate=1)
        with self.assertRaises(arnet.ArnetError):
            arnet.Trainer(arnet.Model(feature_dim=4), loss="hinge")

    def test_learns(self):
        train, test = sets()
        m = arnet.Model(feature_dim=F, seed=1)
        before = arnet.evaluate(m, test)["auc"]
        t = arnet.Trainer(m, train, **OPTS)
        first = t.step()
        last = t.fit(iterations=300)
        after = arnet.evaluate(m, test)["auc"]
        self.assertEqual((first.step, last.step, t.steps), (1, 300, 300))
        self.assertLess(last.loss, first.loss)
        self.assertGreater(after, 0.7)
        self.assertGreater(after, before + 0.1)

    def test_stats_parts(self):
        train, _ = sets()
        t = arnet.Trainer(arnet.Model(feature_dim=F), train, lam=20, **OPTS)
        st = t.step()
        self.assertAlmostEqual(st.loss, st.loss_dmil + 20 * st.loss_center, places=5)
        t = arnet.Trainer(arnet.Model(feature_dim=F), train, loss="dmil", **OPTS)
        st = t.step()
        self.assertAlmostEqual(st.loss, st.loss_dmil, places=6)

    def test_fit_equals_steps_and_seed_reproduces(self):
        train, _ = sets()
        a, b, c = (arnet.Model(feature_dim=F, seed=2) for _ in range(3))
        arnet.Trainer(a, **OPTS).fit(train, iterations=15)
        tb = arnet.Trainer(b, train, **OPTS)
        for _ in range(15):
            tb.step()
        self.assertEqual(params(a), params(b))
        arnet.Trainer(c, seed=99, **OPTS).fit(train, iterations=15)
        self.assertNotEqual(params(a), params(c))

    @needs("arnet_trainer_save", "arnet_trainer_restore")
    def test_resume_equals_uninterrupted(self):
        train, _ = sets()
        whole = arnet.Model(feature_dim=F, seed=3)
        arnet.Trainer(whole, **OPTS).fit(train, iterations=20)
        with TempDir() as d:
            ck = os.path.join(d, "ck.arnet")
            part = arnet.Model(feature_dim=F, seed=3)
            t = arnet.Trainer(part, train, **OPTS)
            t.fit(iterations=8)
            t.save(ck)
            t.close()
            resumed = arnet.Model(feature_dim=F, seed=42)  # weights come from the file
            t2 = arnet.Trainer(resumed, train, **OPTS)
            t2.restore(ck)
            self.assertEqual(t2.steps, 8)
            t2.fit(iterations=20)
            self.assertEqual(params(resumed), params(whole))
            if arnet._lib.has("arnet_model_load"):
                scoring = arnet.Model.load(ck)  # a trainer checkpoint loads for scoring
                self.assertEqual(scoring.feature_dim, F)
            if arnet._lib.has("arnet_file_info_read"):
                self.assertEqual(arnet.file_info(ck)["has_trainer"], 1)

    def test_progress_and_early_stop(self):
        train, _ = sets()
        seen = []

        def progress(stats, total):
            seen.append((stats.step, total))
            return stats.step >= 4

        t = arnet.Trainer(arnet.Model(feature_dim=F), train, **OPTS)
        last = t.fit(iterations=10, progress=progress)
        self.assertEqual(seen, [(1, 10), (2, 10), (3, 10), (4, 10)])
        self.assertEqual((last.step, t.steps), (4, 4))
        self.assertIsNone(t.fit(iterations=4))  # nothing left to do

    def test_lifetime_and_binding(self):
        train, _ = sets()
        m = arnet.Model(feature_dim=F)
        t = arnet.Trainer(m, **OPTS)
        with self.assertRaises(arnet.ArnetError) as cm:
            t.step()  # no data set yet
        self.assertEqual(cm.exception.status, arnet.E_STATE)
        t.fit(train, iterations=1)
        with self.assertRaises(arnet.ArnetError):
            t.fit(arnet.synth(feature_dim=F, scale=0.2, seed=5)[0], iterations=2)
        m.close()  # the trainer keeps the C model
        t.step()
        self.assertEqual(t.steps, 2)
        t.close()
        with self.assertRaises(arnet.ArnetError):
            t.step()

    def test_manifest_path(self):
        with TempDir() as d:
            arnet.synth_write(d, feature_dim=8, scale=0.2)
            t = arnet.Trainer(arnet.Model(feature_dim=8), **OPTS)
            p = os.path.join(d, "train.txt")
            t.fit(p, iterations=2)
            t.fit(p, iterations=3)  # same manifest: continues
            self.assertEqual(t.steps, 3)

    @needs("arnet_run_start", "arnet_run_resume")
    def test_keep_best_eval_every_and_resume(self):
        # The library's run: evaluations every 3 steps and at the end, the
        # best model kept, a checkpoint that resumes (from the file alone)
        # to the bytes of an unbroken run.
        with TempDir() as d:
            arnet.synth_write(d, feature_dim=8, scale=0.2, seed=2)
            train, test = (os.path.join(d, n) for n in ("train.txt", "test.txt"))
            seen = []
            t = arnet.Trainer(arnet.Model(feature_dim=8, seed=4), train, test=test,
                              eval_every=3, keep_best=os.path.join(d, "best.arnet"),
                              out=os.path.join(d, "run.arnet"), on_eval=seen.append, **OPTS)
            t.fit(iterations=5)
            self.assertEqual([e["step"] for e in seen], [3, 5])
            self.assertTrue(seen[-1]["final"])
            info = t.info
            self.assertEqual((info["steps"], info["eval_every"], info["evaluated"]), (5, 3, True))
            best = max(seen, key=lambda e: e["auc"])
            self.assertEqual(info["best_step"], best["step"])
            self.assertTrue(os.path.exists(os.path.join(d, "best.arnet")))
            t.close()

            straight = arnet.Trainer(arnet.Model(feature_dim=8, seed=4), train, test=test,
                                     eval_every=3, out=os.path.join(d, "straight.arnet"),
                                     keep_best=os.path.join(d, "best2.arnet"), **OPTS)
            straight.fit(iterations=9)
            r = arnet.Trainer.resume(os.path.join(d, "run.arnet"), iterations=9)
            self.assertEqual((r.steps, r.info["resumed"], r.options["lr"]), (5, True, 1e-3))
            self.assertEqual(r.info["test_manifest"], os.path.abspath(test))
            r.fit()
            self.assertEqual(r.steps, 9)
            self.assertEqual(params(r.model), params(straight.model))
            self.assertEqual(r.info["best_auc"], straight.info["best_auc"])

    def test_callback_exception_stops_fit(self):
        train, _ = sets()
        t = arnet.Trainer(arnet.Model(feature_dim=F), train, **OPTS)

        def boom(stats, total):
            if stats.step == 2:
                raise KeyError("stop here")

        with self.assertRaises(KeyError):
            t.fit(iterations=5, progress=boom)
        self.assertEqual(t.steps, 2)

    def test_errors(self):
        train, _ = sets()
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Trainer(arnet.Model(feature_dim=F), train, anomalous_per_batch=1000)
        self.assertEqual(cm.exception.status, arnet.E_INVALID)
        self.assertTrue(cm.exception.message)
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Trainer(arnet.Model(feature_dim=F + 1), train, **OPTS)
        self.assertTrue(cm.exception.message)


if __name__ == "__main__":
    unittest.main()
