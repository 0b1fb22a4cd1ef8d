"""test_data.py -- arnet.Dataset (add, read back, errors, manifests through
.npy files the binding writes), arnet.synth and arnet.evaluate against a
pure-Python version of the protocol (clip score to its 16 frames, ground
truth truncated to 16*T)."""
import os
import unittest

import arnet
from helpers import TempDir, f32, np, rows, to_list


class DatasetTest(unittest.TestCase):
    def test_add_and_read_back(self):
        ds = arnet.Dataset()
        self.assertEqual(len(ds), 0)
        self.assertEqual(ds.feature_dim, 0)
        a = rows(3, 4, seed=1)
        ds.add(a, 0, name="walk")
        ds.add(rows(2, 4, seed=2), 1, frame_labels=[0] * 16 + [1] * 16, name="fight")
        ds.add(rows(1, 4, seed=3), 0)
        self.assertEqual(len(ds), 3)
        self.assertEqual(ds.feature_dim, 4)
        self.assertEqual((ds.count(0), ds.count(1)), (2, 1))
        v = ds[0]
        self.assertEqual((v.name, v.label, v.n_clips, v.n_frames), ("walk", 0, 3, 0))
        self.assertIsNone(v.frame_labels)
        self.assertEqual(to_list(v.features), [[f32(x) for x in r] for r in a])
        v = ds[-2]
        self.assertEqual((v.name, v.label, v.n_frames), ("fight", 1, 32))
        self.assertEqual(list(v.frame_labels), [0] * 16 + [1] * 16)
        self.assertEqual(ds[2].name, "#2")
        self.assertEqual([v.name for v in ds], ["walk", "fight", "#2"])
        with self.assertRaises(IndexError):
            ds[3]
        self.assertIn("videos=3", repr(ds))

    def test_add_errors_leave_the_set_unchanged(self):
        ds = arnet.Dataset(feature_dim=4)
        ds.add(rows(2, 4), 0, name="ok")
        cases = [
            (dict(features=rows(2, 5), label=0), arnet.E_SHAPE),
            (dict(features=rows(2, 4), label=2), arnet.E_INVALID),
            (dict(features=[], label=0), arnet.E_INVALID),
            (dict(features=rows(2, 4), label=0, frame_labels=[1] * 32), arnet.E_INVALID),
        ]
        for kwargs, status in cases:
            with self.subTest(kwargs=str(kwargs)[:60]):
                with self.assertRaises(arnet.ArnetError) as cm:
                    ds.add(name="bad", **kwargs)
                self.assertEqual(cm.exception.status, status)
                self.assertTrue(cm.exception.message)
        self.assertEqual(len(ds), 1)

    def test_wrong_feature_size_names_the_video(self):
        ds = arnet.Dataset(feature_dim=8)
        ds.add(rows(2, 8), 0, name="a")
        bad = [rows(3, 9)] + ([np.ones((3, 9), dtype=np.float32)] if np is not None else [])
        for features in bad:
            with self.subTest(kind=type(features).__name__):
                with self.assertRaises(arnet.ArnetError) as cm:
                    ds.add(features, 1, name="b")
                self.assertEqual(cm.exception.status, arnet.E_SHAPE)
                self.assertIn("'b'", cm.exception.message)
                self.assertRegex(cm.exception.message, r"9 (columns|values), expected 8")
        # A flat list whose length is not a multiple of F, and an unnamed video
        # (named as the library would name it: #<index>).
        with self.assertRaises(arnet.ArnetError) as cm:
            ds.add([1.0] * 10, 0, name="flat")
        self.assertIn("'flat'", cm.exception.message)
        with self.assertRaises(arnet.ArnetError) as cm:
            ds.add(rows(1, 3), 0)
        self.assertIn("'#1'", cm.exception.message)
        self.assertEqual(len(ds), 1)

    @unittest.skipIf(np is None, "numpy is not importable by this interpreter")
    def test_numpy_frame_labels(self):
        ds = arnet.Dataset()
        ds.add(np.ones((2, 3), dtype=np.float32), 1, frame_labels=np.array([0.0, 2.5, 0, 1]))
        self.assertEqual(ds[0].frame_labels.tolist(), [0, 1, 0, 1])
        self.assertEqual(ds[0].features.dtype, np.float32)

    def test_manifest(self):
        with TempDir() as d:
            arnet.write_npy(os.path.join(d, "a.npy"), rows(3, 5, seed=4))
            arnet.write_npy(os.path.join(d, "b.npy"), rows(2, 5, seed=5))
            self.assertEqual(to_list(arnet.read_npy(os.path.join(d, "a.npy"))),
                             [[f32(x) for x in r] for r in rows(3, 5, seed=4)])
            with open(os.path.join(d, "list.txt"), "w") as f:
                f.write("# comment\na.npy 0\n\nb.npy 1 0-9,20-31\n")
            ds = arnet.Dataset.from_manifest(os.path.join(d, "list.txt"))
            self.assertEqual(len(ds), 2)
            self.assertEqual(ds.feature_dim, 5)
            b = ds[1]
            self.assertEqual(b.name, "b.npy")
            self.assertEqual(list(b.frame_labels), [1] * 10 + [0] * 10 + [1] * 12)
            with open(os.path.join(d, "bad.txt"), "w") as f:
                f.write("a.npy 0\nb.npy 7\n")
            with self.assertRaises(arnet.ArnetError) as cm:
                arnet.Dataset.from_manifest(os.path.join(d, "bad.txt"))
            self.assertIn("bad.txt:2", cm.exception.message)

    def test_npy_labels(self):
        with TempDir() as d:
            p = os.path.join(d, "gt.npy")
            arnet.write_npy(p, [0.0, 1.0, 0.0, 3.0])
            self.assertEqual(list(arnet.read_npy_labels(p)), [0, 1, 0, 1])
            with self.assertRaises(arnet.ArnetError) as cm:
                arnet.write_npy(p, [1.0, 2.0, 3.0], shape=(2, 2))
            self.assertEqual(cm.exception.status, arnet.E_SHAPE)

    def test_close(self):
        with arnet.Dataset() as ds:
            ds.add(rows(1, 2), 0)
        self.assertTrue(ds.closed)
        with self.assertRaises(arnet.ArnetError) as cm:
            len(ds)
        self.assertEqual(cm.exception.status, arnet.E_STATE)


class SynthTest(unittest.TestCase):
    def test_shape_and_determinism(self):
        train, test = arnet.synth(seed=2, feature_dim=16, scale=0.1)
        self.assertEqual(train.feature_dim, 16)
        self.assertGreater(train.count(0), 0)
        self.assertGreater(train.count(1), 0)
        self.assertEqual(len(train), train.count(0) + train.count(1))
        for v in test:
            self.assertEqual(v.n_frames > 0, True)
        for v in train:
            self.assertEqual(v.n_frames, 0)
        again, _ = arnet.synth(seed=2, feature_dim=16, scale=0.1)
        self.assertEqual(to_list(train[0].features), to_list(again[0].features))
        other, _ = arnet.synth(seed=3, feature_dim=16, scale=0.1)
        self.assertNotEqual(to_list(train[0].features), to_list(other[0].features))

    def test_bad_options(self):
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.synth(scale=0.0)
        self.assertIn("scale", cm.exception.message)

    def test_write(self):
        with TempDir() as d:
            out = os.path.join(d, "set")
            arnet.synth_write(out, feature_dim=8, scale=0.05)
            train = arnet.Dataset.from_manifest(os.path.join(out, "train.txt"))
            mem, _ = arnet.synth(feature_dim=8, scale=0.05)
            self.assertEqual(len(train), len(mem))
            self.assertEqual(to_list(train[0].features), to_list(mem[0].features))


def ref_evaluate(model, ds, clip_frames=16):
    scores, labels, normal = [], [], []
    for v in ds:
        s = to_list(model.score(v.features))
        frames = [x for x in s for _ in range(clip_frames)]
        gt = list(v.frame_labels) if v.frame_labels is not None else [0] * len(frames)
        n = min(len(frames), len(gt))
        scores += frames[:n]
        labels += gt[:n]
        if v.label == 0:
            normal += frames[:n]
    far = sum(1 for x in normal if x >= 0.5) / len(normal)
    return scores, labels, far


class EvaluateTest(unittest.TestCase):
    def test_against_python_protocol(self):
        _, test = arnet.synth(feature_dim=16, scale=0.1)
        model = arnet.Model(feature_dim=16, seed=4)
        model.set_params(b2=0.3)  # some frames above the FAR threshold
        res = arnet.evaluate(model, test)
        scores, labels, far = ref_evaluate(model, test)
        self.assertEqual(res["frames"], len(scores))
        self.assertEqual(res["videos"], len(test))
        self.assertEqual(res["anomalous_videos"], test.count(1))
        self.assertEqual(res["gt_rule"], "truncate")
        self.assertAlmostEqual(res["auc"], arnet.roc_auc(scores, labels), places=12)
        self.assertAlmostEqual(res["ap"], arnet.average_precision(scores, labels), places=12)
        self.assertAlmostEqual(res["pr_auc"], arnet.pr_auc(scores, labels), places=12)
        self.assertAlmostEqual(res["far"], far, places=12)
        self.assertGreater(res["far"], 0.0)
        per = res["per_video"]
        self.assertEqual([p["name"] for p in per], [v.name for v in test])
        v0 = test[0]
        s0 = to_list(model.score(v0.features))
        self.assertEqual(per[0]["n_clips"], v0.n_clips)
        self.assertAlmostEqual(per[0]["max_score"], max(s0), places=6)
        self.assertAlmostEqual(per[0]["mean_score"], sum(s0) / len(s0), places=5)

    def test_manifest_path_and_options(self):
        with TempDir() as d:
            arnet.synth_write(d, feature_dim=8, scale=0.05)
            model = arnet.Model(feature_dim=8)
            a = arnet.evaluate(model, os.path.join(d, "test.txt"), gt_rule="pad-last")
            self.assertEqual(a["gt_rule"], "pad-last")
            b = arnet.evaluate(model, arnet.Dataset.from_manifest(os.path.join(d, "test.txt")),
                               gt_rule="pad-last")
            self.assertEqual(a["auc"], b["auc"])
        with self.assertRaises(arnet.ArnetError):
            arnet.evaluate(model, arnet.Dataset(), gt_rule="nearest")

    def test_anomalous_video_without_ground_truth(self):
        ds = arnet.Dataset()
        ds.add(rows(2, 3), 1, name="no-gt")
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.evaluate(arnet.Model(feature_dim=3), ds)
        self.assertIn("no-gt", cm.exception.message)

    def test_one_class_gives_nan(self):
        ds = arnet.Dataset()
        ds.add(rows(2, 3), 0)
        res = arnet.evaluate(arnet.Model(feature_dim=3), ds)
        self.assertNotEqual(res["auc"], res["auc"])  # NaN
        self.assertGreaterEqual(res["far"], 0.0)


if __name__ == "__main__":
    unittest.main()
