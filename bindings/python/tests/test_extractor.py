"""test_extractor.py -- arnet.Extractor: numpy uint8 frames in, float32
features out; a whole video equals the same frames pushed one by one; BGR
frames equal their RGB reversal; strided frames equal their packed copy;
ten crops and a padded last clip have their shapes; errors (NaN and
infinite clips refused as Model.score refuses them).  Needs numpy,
and torch for the random-weight I3D of tests/reference/i3d_torch.py (read
straight from the .pt file, nothing converted)."""
import os
import subprocess
import sys
import tempfile
import unittest

import arnet
from helpers import needs, np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "..", "..", "tests", "reference", "i3d_torch.py")


def _weights():
    """A random-weight I3D state dict (made once per run), or None."""
    if getattr(_weights, "path", 0) != 0:
        return _weights.path
    _weights.path = None
    try:
        import torch  # noqa: F401  (the reference script needs it)
    except ImportError:
        return None
    if not os.path.isfile(REFERENCE):
        return None
    _weights.dir = tempfile.TemporaryDirectory()
    path = os.path.join(_weights.dir.name, "w.pt")
    subprocess.run([sys.executable, REFERENCE, "weights", "--out", path, "--seed", "3"],
                   check=True, stdout=subprocess.DEVNULL)
    _weights.path = path
    return path


@unittest.skipIf(np is None, "numpy is not importable by this interpreter")
@needs("arnet_extractor_load_torch", "arnet_extractor_push")
class ExtractorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pt = _weights()
        if cls.pt is None:
            raise unittest.SkipTest("torch or tests/reference/i3d_torch.py not available")
        cls.x = arnet.Extractor(cls.pt, torch=True, resize="224x224")
        rng = np.random.default_rng(1)
        cls.frames = rng.integers(0, 256, size=(20, 37, 45, 3), dtype=np.uint8)

    def test_extract_equals_push(self):
        x = self.x
        self.assertEqual(x.feature_dim, 1024)
        whole = x.extract(self.frames)
        self.assertEqual(whole.shape, (1, 1024))
        self.assertEqual(whole.dtype, np.float32)
        got = [f for f in (x.push(fr) for fr in self.frames) if f is not None]
        self.assertIsNone(x.flush())  # 4 frames left, dropped
        self.assertEqual(len(got), 1)
        self.assertTrue(np.array_equal(got[0], whole[0]))
        self.assertGreater(x.memory, 0)

    def test_bgr_and_strides(self):
        x = self.x
        want = x.extract(self.frames[:16])
        self.assertTrue(np.array_equal(x.extract(self.frames[:16, :, :, ::-1].copy(), bgr=True),
                                       want))
        big = np.zeros((16, 41, 50, 3), np.uint8)
        big[:, 2:39, 3:48] = self.frames[:16]
        view = big[:, 2:39, 3:48]  # rows strided, pixels packed
        self.assertTrue(np.array_equal(x.extract(view), want))

    def test_pad_and_crops(self):
        pad = self.x.share(last_clip="pad")
        self.assertEqual(pad.extract(self.frames).shape, (2, 1024))
        ten = self.x.share(crops=10, resize="short256")
        self.assertEqual(ten.extract(self.frames[:16]).shape, (1, 10, 1024))
        pad.close()
        ten.close()
        self.assertEqual(self.x.extract(self.frames[:3]).shape, (0, 1024))

    def test_flow_network(self):
        # The optical-flow I3D (2 input channels) takes [n, T, H, W, 2]
        # clips; an RGB one 3.  Each says which it is.
        self.assertEqual(self.x.stream, "rgb")
        if not arnet._lib.has("arnet_extractor_stream"):
            self.skipTest("libarnet has no arnet_extractor_stream() yet")
        with tempfile.TemporaryDirectory() as d:
            pt = os.path.join(d, "flow.pt")
            r = subprocess.run([sys.executable, REFERENCE, "weights", "--out", pt, "--seed", "4",
                                "--in-channels", "2"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
            self.assertEqual(r.returncode, 0, r.stdout)
            with arnet.Extractor(pt, torch=True) as fx:
                self.assertEqual(fx.stream, "flow")
                g = np.random.default_rng(1)
                clip = g.uniform(-1, 1, (1, 8, 32, 32, 2)).astype(np.float32)
                f = fx.clips(clip)
                self.assertEqual(f.shape, (1, fx.feature_dim))
                self.assertTrue(np.isfinite(f).all())
                # float64 gives the same features (converted once).
                np.testing.assert_array_equal(fx.clips(clip.astype(np.float64)), f)
                with self.assertRaises(arnet.ArnetError) as cm:
                    fx.clips(np.zeros((1, 8, 32, 32, 3), np.float32))
                self.assertEqual(cm.exception.status, arnet.E_SHAPE)
                self.assertIn("flow", str(cm.exception))
        with self.assertRaises(arnet.ArnetError) as cm:
            self.x.clips(np.zeros((1, 8, 32, 32, 2), np.float32))
        self.assertEqual(cm.exception.status, arnet.E_SHAPE)
        with self.assertRaises(ValueError):
            self.x.clips(np.full((1, 8, 32, 32, 3), 1e300))

    def test_errors(self):
        x = self.x.share()
        with self.assertRaises(arnet.ArnetError) as e:
            x.push(np.zeros((8, 8, 3), np.float32))
        self.assertIn("uint8", str(e.exception))
        with self.assertRaises(arnet.ArnetError):
            x.push(np.zeros((8, 8), np.uint8))
        x.push(np.zeros((8, 8, 3), np.uint8))
        with self.assertRaises(arnet.ArnetError) as e:
            x.push(np.zeros((9, 8, 3), np.uint8))
        self.assertEqual(e.exception.status, arnet.E_SHAPE)
        x.reset()
        self.assertIsNone(x.push(np.zeros((9, 8, 3), np.uint8)))
        with self.assertRaises(FileNotFoundError):
            arnet.Extractor(os.path.join(HERE, "no-such-file.arnet"))
        with self.assertRaises(arnet.ArnetError):
            self.x.share(resize="bicubic")
        x.close()
        with self.assertRaises(arnet.ArnetError):
            x.clips(np.zeros((1, 16, 8, 8, 3), np.float32))

    def test_clips_refuse_what_score_refuses(self):
        # One rule with Model.score: NaN or infinite input is refused, naming
        # the clip and the value; nothing is computed.
        clip = np.zeros((2, 16, 8, 8, 3), np.float32)
        for bad, word in ((np.nan, "NaN"), (np.inf, "infinite")):
            c = clip.copy()
            c[1, 0, 0, 1, 2] = bad
            with self.assertRaises(arnet.ArnetError) as e:
                self.x.clips(c)
            self.assertEqual(e.exception.status, arnet.E_INVALID)
            self.assertIn("clip 1, value 5 is " + word, str(e.exception))
        # far outside [-1, 1] but finite: finite features, or refused
        c = clip.copy()
        c[1] = 1e30
        try:
            self.assertTrue(np.isfinite(self.x.clips(c)).all())
        except arnet.ArnetError as e:
            self.assertIn("overflow", str(e))

    def test_close_during_call_and_sharing(self):
        # close() from another thread while clips() runs frees the network
        # only once the call has returned; a shared Extractor keeps it alive.
        import threading
        import time
        clip = np.random.default_rng(2).uniform(-1, 1, (1, 16, 64, 64, 3)).astype(np.float32)
        x = self.x.share()
        want = x.clips(clip)
        y = x.share()
        x.close()
        self.assertEqual(y.clips(clip).tolist(), want.tolist())  # network still held
        h = y._h
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("f", y.clips(clip)))
        t.start()
        deadline = time.time() + 5
        while h.users == 0 and time.time() < deadline:
            time.sleep(0.001)
        y.close()
        t.join(120)
        self.assertEqual(got["f"].tolist(), want.tolist())
        self.assertIsNotNone(self.x._h.ptr)  # the class's own Extractor still holds it


if __name__ == "__main__":
    unittest.main()
