"""test_two_stream.py -- arnet.TwoStream, AR-Net's two-stream (RGB + TV-L1
flow) I3D features from frames: the feature pushed frame by frame equals
`arnet extract --extractor RGB --flow-extractor FLOW --frames F.npy` bit
for bit with the same options (the I3D authors' recipe, the defaults, and
the AR-Net authors' one: every recipe option set), a partial clip dropped
by reset(), networks shared from arnet.Extractor objects, cancel(), the
argument checks (InvalidArgumentError naming the argument, before any file
is read) and streams given the wrong way round (the library's message and
the file named).

Needs numpy, torch (random-weight I3Ds from tests/reference/i3d_torch.py,
imported with `arnet import i3d`) and the arnet program ($ARNET_EXE, else
$ARNET_BUILD_DIR/tools/arnet); each skip names what is missing.  17 frames
of 48 x 36: one clip (16 RGB frames, 16 flows); 18 s on the shared 2-core
machine at a load average of 3, most of it the networks and the exact TV-L1
on the 224 x 224 crop."""
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import arnet
from helpers import needs, np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_DIR = os.path.join(HERE, "..", "..", "..", "tests", "reference")
N, W, H = 17, 48, 36
# The AR-Net authors' recipe (docs/extractor.md, "Recipes") at a small flow
# size, the TV-L1 inexact: every recipe option away from its default.
ARNET_RECIPE = dict(resize="224x224", flow_at="40x30", flow_preset="cuda", flow_values="q8-raw",
                    flow_channels="xx", flow_bound=15.0, flow_exact=False)
ARNET_FLAGS = ["--resize", "224x224", "--flow-at", "40x30", "--flow-preset", "cuda",
               "--flow-values", "q8-raw", "--flow-channels", "xx", "--flow-bound", "15",
               "--flow-inexact"]


def _exe():
    exe = os.environ.get("ARNET_EXE")
    if not exe and os.environ.get("ARNET_BUILD_DIR"):
        exe = os.path.join(os.environ["ARNET_BUILD_DIR"], "tools", "arnet")
    return exe if exe and os.access(exe, os.X_OK) else None


def _frames():
    """[17, 36, 48, 3] uint8: a pattern moving by (1.3, 0.4) px a frame, noise."""
    g = np.random.default_rng(5)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = []
    for i in range(N):
        v = 128 + 60 * np.sin((x - 1.3 * i) * 0.35) * np.cos((y - 0.4 * i) * 0.29)
        v = v + g.normal(0, 4, (H, W))
        out.append(np.stack([v, v * 0.9 + 10, v * 0.8 + 20], -1).clip(0, 255).astype(np.uint8))
    return np.stack(out)


@unittest.skipIf(np is None, "numpy is not importable by this interpreter")
@needs("arnet_two_stream_state_create", "arnet_two_stream_push")
class TwoStreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            import torch  # noqa: F401  (the reference script needs it)
        except ImportError:
            raise unittest.SkipTest("torch is not importable by this interpreter (Debian's "
                                    "python3-torch): the random-weight I3Ds need it")
        cls.exe = _exe()
        if cls.exe is None:
            raise unittest.SkipTest("the arnet program is not built ($ARNET_EXE or "
                                    "$ARNET_BUILD_DIR/tools/arnet)")
        cls.tmp = tempfile.TemporaryDirectory(prefix="arnet-py-")
        def j(name):
            return os.path.join(cls.tmp.name, name)
        cls.j = staticmethod(j)
        sys.path.insert(0, REFERENCE_DIR)
        try:
            import i3d_torch
        finally:
            sys.path.remove(REFERENCE_DIR)
        for name, seed, channels in (("rgb", 21, 3), ("flow", 22, 2)):
            net = i3d_torch.build(seed=seed, in_channels=channels)
            i3d_torch.save(i3d_torch.state_dict_of(net), j(name + ".pt"), "zip")
            r = subprocess.run([cls.exe, "import", "i3d", j(name + ".pt"), "--out",
                                j(name + ".arnet"), "--level", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            if r.returncode != 0:
                raise RuntimeError("arnet import i3d %s.pt: %s" % (name, r.stdout))
            os.remove(j(name + ".pt"))
        cls.rgb, cls.flow = j("rgb.arnet"), j("flow.arnet")
        # Loaded once for the checks that need no network run.
        cls.xr, cls.xf = arnet.Extractor(cls.rgb), arnet.Extractor(cls.flow)
        cls.frames = _frames()
        np.save(j("frames.npy"), cls.frames)
        cls._cli = {}

    @classmethod
    def tearDownClass(cls):
        cls.xr.close()
        cls.xf.close()
        cls.tmp.cleanup()

    def cli(self, name, *flags):
        """`arnet extract` of the frames with these flags (made once)."""
        if name not in self._cli:
            out = self.j(name + ".npy")
            cmd = [self.exe, "extract", "--extractor", self.rgb, "--flow-extractor", self.flow,
                   "--frames", self.j("frames.npy"), "--out", out, "--threads", "2",
                   "--quiet"] + list(flags)
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            self.assertEqual(r.returncode, 0, "%s: %s" % (" ".join(cmd), r.stdout))
            self._cli[name] = np.load(out)
        return self._cli[name]

    def test_default_recipe_equals_cli(self):
        # The I3D authors' recipe (the defaults): flow on the 224 x 224
        # centre crop of the frame resized to 256 on its short side,
        # OpenCV's TV-L1 defaults, exact.  No size given: the state is made
        # for the first frame; reset() drops a partial clip (and the size).
        want = self.cli("default")
        self.assertEqual(want.shape, (1, 2048))
        with arnet.TwoStream(self.rgb, self.flow, threads=2) as ts:
            self.assertEqual((ts.memory, ts.frame_size, ts.feature_dim), (0, None, 2048))
            for f in self.frames[:2, ::-1, ::-1]:   # another video, cut short
                self.assertIsNone(ts.push(f))
            self.assertGreater(ts.memory, 0)
            ts.reset()
            got = [ts.push(f) for f in self.frames]
            self.assertEqual([g is None for g in got], [True] * 16 + [False])
            self.assertEqual(ts.frame_size, (W, H))
            self.assertEqual(ts.feature_dim, 2048)
            self.assertEqual((got[-1].shape, got[-1].dtype), ((2048,), np.float32))
            self.assertTrue(np.array_equal(got[-1], want[0]),
                            "max difference %g" % np.abs(got[-1] - want[0]).max())

    def test_arnet_recipe_equals_cli(self):
        # Every recipe option away from its default, the frame size given
        # (the state made at once), the C reset between two videos.
        want = self.cli("arnet", *ARNET_FLAGS)
        ts = arnet.TwoStream(self.rgb, self.flow, width=W, height=H, threads=2, **ARNET_RECIPE)
        self.assertGreater(ts.memory, 0)
        self.assertEqual(ts.frame_size, (W, H))
        for f in self.frames[6:0:-1]:
            self.assertIsNone(ts.push(f))
        ts.reset()
        got = [ts.push(f) for f in self.frames]
        self.assertEqual([g is None for g in got], [True] * 16 + [False])
        self.assertTrue(np.array_equal(got[-1], want[0]),
                        "max difference %g" % np.abs(got[-1] - want[0]).max())
        # extract() of a whole video gives (N - 1) // 16 rows (the whole 17
        # frames: test_shared_extractors): 16 frames, 15 flows, none.
        self.assertEqual(ts.extract(self.frames[:16]).shape, (0, 2048))
        # The recipe reaches the library: the flow half is not the default's.
        self.assertFalse(np.array_equal(want[0, 1024:], self.cli("default")[0, 1024:]))
        # The RGB half is the RGB extractor's own feature of the first 16 frames.
        with arnet.Extractor(self.rgb, resize="224x224", threads=2) as x:
            self.assertTrue(np.array_equal(x.extract(self.frames[:16])[0], want[0, :1024]))
        ts.close()
        ts.close()  # freed once
        with self.assertRaises(arnet.ArnetError) as cm:
            ts.push(self.frames[0])
        self.assertEqual(cm.exception.status, arnet.E_STATE)

    def test_shared_extractors(self):
        # arnet.Extractor objects lend their loaded networks; closing them
        # first is safe (the TwoStream holds the networks).  extract() of
        # the whole video equals the program's [1, 2048].
        xr, xf = arnet.Extractor(self.rgb), arnet.Extractor(self.flow)
        self.assertEqual((xr.stream, xf.stream), ("rgb", "flow"))
        ts = arnet.TwoStream(xr, xf, threads=2, **ARNET_RECIPE)
        xr.close()
        xf.close()
        self.assertTrue(np.array_equal(ts.extract(self.frames), self.cli("arnet", *ARNET_FLAGS)))
        ts.close()
        with self.assertRaises(arnet.ArnetError):
            arnet.TwoStream(xr, self.flow)  # a closed Extractor

    def test_streams_swapped(self):
        # The library refuses (E_INVALID from arnet_two_stream_state_create,
        # its message naming the stream and the file's recorded source), and
        # the binding adds the argument and the file given; with or without
        # a frame size, from paths or Extractor objects.
        xr, xf = self.xr, self.xf
        sized = dict(width=W, height=H)
        cases = [((self.flow, self.rgb), {}, "rgb", self.flow, "the RGB extractor"),
                 ((self.rgb, self.rgb), sized, "flow", self.rgb, "the flow extractor"),
                 ((xf, xr), {}, "rgb", self.flow, "the RGB extractor"),
                 ((xf, xr), sized, "rgb", self.flow, "the RGB extractor"),
                 ((xr, xr), {}, "flow", self.rgb, "the flow extractor"),
                 ((xf, xf), sized, "rgb", self.flow, "the RGB extractor")]
        for args, size, role, path, says in cases:
            with self.subTest(role=role, path=path, size=bool(size)):
                with self.assertRaises(arnet.InvalidArgumentError) as cm:
                    arnet.TwoStream(*args, **size)
                e = cm.exception
                self.assertEqual(e.function, "arnet_two_stream_state_create")
                self.assertIn("%s=%r" % (role, path), str(e))
                self.assertIn(says, str(e))
                self.assertIn(".pt) is I3D's", str(e))  # the library's words
        # The Extractors' networks were only held, and given back.
        self.assertEqual((xr._net.holders, xf._net.holders), (1, 1))

    def test_argument_checks(self):
        # Each bad value is InvalidArgumentError (a ValueError) naming the
        # argument, before any C call that could fail: the paths here do not
        # exist, so a file read first would be FileNotFoundError.
        missing = self.j("no-such.arnet")
        bad = [(dict(flow_values="q9"), "flow_values"),
               (dict(flow_values=1), "flow_values"),
               (dict(flow_channels="yx"), "flow_channels"),
               (dict(flow_at="middle"), "flow_at"),
               (dict(flow_at="size"), "flow_width"),
               (dict(flow_at="size", flow_width=320), "flow_height"),
               (dict(flow_at="crop", flow_width=320, flow_height=240), "flow_width"),
               (dict(flow_at="320x240", flow_width=320), "flow_width"),
               (dict(flow_at="size", flow_width=2 ** 32, flow_height=240), "flow_width"),
               (dict(flow_at="size", flow_width=320, flow_height=-1), "flow_height"),
               (dict(flow_bound=1e300), "flow_bound"),
               (dict(flow_preset="gpu"), "flow_preset"),
               (dict(flow_threads=2 ** 31), "flow_threads"),
               (dict(flow_options=dict(warps=-1)), "flow_warps"),
               (dict(flow_options=dict(tau=1e39)), "flow_tau"),
               (dict(threads=2 ** 31), "threads"),
               (dict(crops=3), "crops"),
               (dict(crops=2 ** 32 + 1), "crops"),
               (dict(resize="bicubic"), "resize"),
               (dict(filter="nearest"), "filter"),
               (dict(width=W), "height"),
               (dict(width=-1, height=H), "width"),
               (dict(width=W, height=2 ** 32), "height")]
        for kw, name in bad:
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                with self.assertRaises(arnet.InvalidArgumentError) as cm:
                    arnet.TwoStream(missing, missing, **kw)
                self.assertIn(name, str(cm.exception))
        for kw in (dict(flow_options=dict(no_such=1)), dict(flow_exact=1, flow_options=dict(
                exact=0)), dict(threads=2.5), dict(flow_width="320", flow_at="size",
                                                  flow_height=240)):
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                with self.assertRaises(TypeError):
                    arnet.TwoStream(missing, missing, **kw)
        with self.assertRaises(FileNotFoundError):
            arnet.TwoStream(missing, self.flow)
        # The library's own limits, in its words (the state is made at once
        # when the frame size is given).
        lib_bad = [(dict(flow_bound=-1.0), "flow_bound"),
                   (dict(flow_bound=float("nan")), "flow_bound"),
                   (dict(flow_at="2x240"), "flow size 2x240"),
                   (dict(flow_at="320x240", crops=10), "crops 1"),
                   (dict(flow_threads=-1), "threads -1"),
                   (dict(threads=-3), "threads -3"),
                   (dict(flow_options=dict(scale_step=1.5)), "scale_step"),
                   (dict(width=0, height=H), "frame")]
        for kw, words in lib_bad:
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                kw = dict(dict(width=W, height=H), **kw)
                with self.assertRaises(arnet.InvalidArgumentError) as cm:
                    arnet.TwoStream(self.xr, self.xf, **kw)
                self.assertEqual(cm.exception.function, "arnet_two_stream_state_create")
                self.assertIn(words, str(cm.exception))

    def test_cancel_and_frames(self):
        ts = arnet.TwoStream(self.rgb, self.flow, width=W, height=H, **ARNET_RECIPE)
        ts.cancel()                      # no push running: stops the next one
        with self.assertRaises(arnet.ArnetError) as cm:
            ts.push(self.frames[0])
        self.assertEqual(cm.exception.status, arnet.E_CANCELLED)
        self.assertIsNone(ts.push(self.frames[0]))  # the request was used up
        self.assertIsNone(ts.push(self.frames[1]))  # (a flow computed)
        with self.assertRaises(arnet.ArnetError) as cm:
            ts.push(self.frames[0, :-1])             # 48 x 35: the library's E_SHAPE
        self.assertEqual(cm.exception.status, arnet.E_SHAPE)
        self.assertIn("48x35", str(cm.exception))
        with self.assertRaises(arnet.ArnetError) as cm:
            ts.push(self.frames[0].astype(np.float32))
        self.assertEqual(cm.exception.status, arnet.E_INVALID)
        # From another thread, while the push that completes a clip runs (its
        # networks take a second): E_CANCELLED, not E_STATE (cancel() does
        # not wait for the push).
        ts.reset()
        for f in self.frames[:16]:
            self.assertIsNone(ts.push(f))
        done, res = threading.Event(), {}

        def work():
            try:
                res["r"] = ts.push(self.frames[16])
            except arnet.ArnetError as e:
                res["e"] = e
            finally:
                done.set()
        t = threading.Thread(target=work)
        t.start()
        while not done.wait(0.002):
            ts.cancel()
        t.join()
        self.assertIn("e", res, "the push was not cancelled")
        self.assertEqual(res["e"].status, arnet.E_CANCELLED)
        ts.close()
        # Without a size, a request before the state exists stops the first push.
        lazy = arnet.TwoStream(self.rgb, self.flow, **ARNET_RECIPE)
        lazy.cancel()
        with self.assertRaises(arnet.ArnetError) as cm:
            lazy.push(self.frames[0])
        self.assertEqual(cm.exception.status, arnet.E_CANCELLED)
        self.assertIsNone(lazy.push(self.frames[0]))
        lazy.close()
        lazy.cancel()                    # closed: nothing to stop, no error


@unittest.skipIf(np is not None, "numpy is importable: TwoStreamTest runs instead")
class TwoStreamWithoutNumpyTest(unittest.TestCase):
    def test_needs_numpy(self):
        with self.assertRaises(arnet.InvalidArgumentError) as cm:
            arnet.TwoStream("rgb.arnet", "flow.arnet")
        self.assertIn("numpy", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
