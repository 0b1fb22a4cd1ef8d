"""test_checkpoint.py -- Model.save / load / to_bytes / from_bytes round
trips (exact in f32, within 1e-3 in f16), metadata kept, file_info, and the
errors of missing, truncated and foreign files."""
import os
import unittest

import arnet
from helpers import TempDir, needs, rows, to_list


@needs("arnet_model_save_ex", "arnet_model_load")
class CheckpointTest(unittest.TestCase):
    def model(self):
        m = arnet.Model(feature_dim=20, hidden_dim=12, seed=9, dropout=0.6)
        m.set_params(b1=[0.01 * i for i in range(12)], b2=-0.2)
        m.meta["dataset"] = "synthetic"
        m.meta["note"] = "ünïcode"
        return m

    def test_save_load_exact(self):
        m = self.model()
        x = rows(7, 20, seed=1, lo=0, hi=1)
        with TempDir() as d:
            p = os.path.join(d, "m.arnet")
            m.save(p)
            with arnet.Model.load(p) as back:
                self.assertEqual((back.feature_dim, back.hidden_dim), (20, 12))
                self.assertEqual(back.dropout, 0.6)
                self.assertEqual(to_list(back.get_params()["w1"]),
                                 to_list(m.get_params()["w1"]))
                self.assertEqual(back.get_params()["b2"], m.get_params()["b2"])
                self.assertEqual(to_list(back.score(x)), to_list(m.score(x)))
                self.assertEqual(back.meta["dataset"], "synthetic")
                self.assertEqual(back.meta["note"], "ünïcode")
            self.assertEqual([n for n in os.listdir(d)], ["m.arnet"])  # no temporaries left

    def test_f16_storage(self):
        m = self.model()
        x = rows(30, 20, seed=2, lo=0, hi=1)
        with TempDir() as d:
            p32, p16 = os.path.join(d, "a"), os.path.join(d, "b")
            m.save(p32)
            m.save(p16, storage="f16")
            self.assertLess(os.path.getsize(p16), os.path.getsize(p32))
            back = arnet.Model.load(p16)
            for a, b in zip(to_list(back.score(x)), to_list(m.score(x))):
                self.assertAlmostEqual(a, b, delta=1e-3)
        with self.assertRaises(arnet.ArnetError):
            m.save("unused", storage="f8")

    @needs("arnet_model_save_buffer", "arnet_model_load_buffer")
    def test_bytes_round_trip(self):
        m = self.model()
        data = m.to_bytes()
        self.assertIsInstance(data, bytes)
        back = arnet.Model.from_bytes(data)
        self.assertEqual(to_list(back.get_params()["w1"]), to_list(m.get_params()["w1"]))
        # The library may add entries of its own (e.g. its version) on save.
        self.assertLessEqual(dict(m.meta).items(), dict(back.meta).items())
        back2 = arnet.Model.from_bytes(bytearray(data))
        self.assertEqual(back2.feature_dim, 20)
        with TempDir() as d:
            p = os.path.join(d, "m")
            m.save(p)
            with open(p, "rb") as f:
                self.assertEqual(f.read(), data)  # same bytes as the file
        self.assertLess(len(m.to_bytes(storage="f16")), len(data))

    @needs("arnet_file_info_read")
    def test_file_info(self):
        with TempDir() as d:
            p = os.path.join(d, "m")
            self.model().save(p, storage="f16")
            info = arnet.file_info(p)
            self.assertEqual((info["feature_dim"], info["hidden_dim"]), (20, 12))
            self.assertEqual(info["storage"], "f16")
            self.assertEqual(info["dropout"], 0.6)
            self.assertEqual(info["file_size"], os.path.getsize(p))
            self.assertEqual(info["has_trainer"], 0)
            self.assertEqual(info["format_major"] * 100 + info["format_minor"],
                             arnet.checkpoint_format_version())

    def test_errors(self):
        with TempDir() as d:
            with self.assertRaises(FileNotFoundError) as cm:
                arnet.Model.load(os.path.join(d, "missing"))
            self.assertEqual(cm.exception.status, arnet.E_IO)
            self.assertEqual(cm.exception.filename, os.path.join(d, "missing"))
            with self.assertRaises(IsADirectoryError):
                arnet.Model.load(d)
            p = os.path.join(d, "m")
            self.model().save(p)
            with open(p, "rb") as f:
                data = f.read()
            for name, bad in (("truncated", data[:len(data) // 2]),
                              ("foreign", b"PK\x03\x04" + b"\0" * 200), ("empty", b"")):
                with self.subTest(kind=name):
                    q = os.path.join(d, name)
                    with open(q, "wb") as f:
                        f.write(bad)
                    with self.assertRaises(arnet.ArnetError) as cm:
                        arnet.Model.load(q)
                    self.assertEqual(cm.exception.status, arnet.E_FORMAT)
                    self.assertTrue(cm.exception.message)
                    if arnet._lib.has("arnet_model_load_buffer"):
                        with self.assertRaises(arnet.ArnetError) as cm:
                            arnet.Model.from_bytes(bad)
                        self.assertEqual(cm.exception.status, arnet.E_FORMAT)
            with self.assertRaises(FileNotFoundError) as cm:
                self.model().save(os.path.join(d, "no", "such", "dir", "m"))
            self.assertEqual(cm.exception.status, arnet.E_IO)


if __name__ == "__main__":
    unittest.main()
