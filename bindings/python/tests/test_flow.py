"""test_flow.py -- arnet.Flow: TV-L1 flow of a pattern moved by a known
shift (the motion is found, uint8 and float frames agree), its argument
checks, and agreement with OpenCV's DualTVL1 when python3-opencv has it.
Needs numpy."""
import unittest

import arnet
from helpers import needs, np


def _frames(shift):
    """A smooth 48 x 64 pattern and the same moved right by shift pixels."""
    y, x = np.mgrid[0:48, 0:64].astype(np.float64)

    def pattern(dx):
        return (127 + 60 * np.sin((x - dx) / 5.0) * np.cos(y / 7.0)
                + 40 * np.cos((x - dx + y) / 9.0))
    return pattern(0).round().astype(np.uint8), pattern(shift).round().astype(np.uint8)


@unittest.skipIf(np is None, "numpy is not importable by this interpreter")
@needs("arnet_flow_create", "arnet_flow_compute")
class FlowTest(unittest.TestCase):
    def test_known_shift(self):
        prev, nxt = _frames(2.0)
        with arnet.Flow(64, 48) as fl:
            f = fl.compute(prev, nxt)
            self.assertEqual(f.shape, (48, 64, 2))
            inner = f[8:-8, 8:-8]
            self.assertAlmostEqual(float(np.median(inner[..., 0])), 2.0, delta=0.3)
            self.assertAlmostEqual(float(np.median(inner[..., 1])), 0.0, delta=0.3)
            # Float frames on OpenCV's [0, 1] scale give the same flow.
            g = fl.compute(prev / 255.0, nxt / 255.0)
            np.testing.assert_allclose(g, f, atol=1e-3)
            self.assertGreater(fl.memory, 0)

    def test_opencv(self):
        try:
            import cv2
            tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        except (ImportError, AttributeError):
            self.skipTest("needs python3-opencv with cv2.optflow")
        prev, nxt = _frames(1.5)
        ref = tvl1.calc(prev, nxt, None)
        with arnet.Flow(64, 48, threads=1) as fl:
            f = fl.compute(prev, nxt)
        self.assertLess(float(np.abs(f - ref).mean()), 0.05)

    def test_errors(self):
        with self.assertRaises(ValueError):
            arnet.Flow(2 ** 32 + 64, 48)
        with self.assertRaises(ValueError):
            arnet.Flow(64, 48, warps=-1)
        with self.assertRaises(ValueError):
            arnet.Flow(64, 48, tau=1e300)
        with self.assertRaises(ValueError):
            arnet.Flow(2, 48)  # the library's own limit: 3..16384
        with self.assertRaises(TypeError):
            arnet.Flow(64, 48, no_such_option=1)
        with self.assertRaises(arnet.ArnetError):
            arnet.Flow(64, 48, preset="gpu")
        with arnet.Flow(64, 48) as fl:
            prev, nxt = _frames(1.0)
            with self.assertRaises(arnet.ArnetError) as cm:
                fl.compute(prev[:40], nxt)
            self.assertEqual(cm.exception.status, arnet.E_SHAPE)
            bad = prev / 255.0
            bad[3, 4] = np.nan
            with self.assertRaises(ValueError):
                fl.compute(bad, nxt / 255.0)
            with self.assertRaises(TypeError):
                fl.compute(prev.astype(np.complex64), nxt)


if __name__ == "__main__":
    unittest.main()
