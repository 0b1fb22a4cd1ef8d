"""test_errors.py -- ArnetError carries the C status, its name and the
thread's last-error message, read right after the failing call."""
import os
import tempfile
import threading
import unittest

import arnet
from arnet import _lib


class ErrorTest(unittest.TestCase):
    def test_fields(self):
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Model(feature_dim=0)
        e = cm.exception
        self.assertIsInstance(e, RuntimeError)
        self.assertEqual(e.status, arnet.E_INVALID)
        self.assertEqual(e.status, -1)
        self.assertEqual(e.name, "invalid argument")
        self.assertEqual(e.name, arnet.strerror(-1))
        self.assertIn("feature_dim", e.message)
        self.assertEqual(e.function, "arnet_model_create")
        self.assertIn(e.message, str(e))
        self.assertIn("invalid argument", str(e))

    def test_message_is_the_failing_calls(self):
        # A later successful call must not replace the message we carry.
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Model(feature_dim=8, dropout=1.5)
        arnet.Model(feature_dim=2).score([[0, 0]])
        self.assertIn("dropout", cm.exception.message)

    def test_status_names(self):
        names = {arnet.OK: "ok", arnet.E_INVALID: "invalid argument",
                 arnet.E_NOMEM: "out of memory", arnet.E_IO: "input/output error",
                 arnet.E_FORMAT: "malformed or unsupported file",
                 arnet.E_SHAPE: "dimension mismatch", arnet.E_STATE: "call not valid now",
                 arnet.E_CANCELLED: "cancelled"}
        for status, name in names.items():
            self.assertEqual(arnet.strerror(status), name)
            self.assertEqual(_lib._STATUS_NAMES[status], name)
        self.assertEqual(arnet.strerror(-99), "unknown status")
        self.assertEqual(arnet.ArnetError(-99, "x").name, "unknown status")

    def test_io_error_names_the_path(self):
        # The system's failures are the OSError subclasses of their errno.
        with self.assertRaises(FileNotFoundError) as cm:
            arnet.Dataset.from_manifest("/nonexistent/dir/list.txt")
        self.assertEqual(cm.exception.status, arnet.E_IO)
        self.assertEqual(cm.exception.filename, "/nonexistent/dir/list.txt")
        self.assertIn("/nonexistent/dir/list.txt", str(cm.exception))
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(IsADirectoryError):
                arnet.read_npy(d)
            with self.assertRaises(FileNotFoundError):
                arnet.write_npy(os.path.join(d, "no", "x.npy"), [1.0])
            if os.geteuid() != 0:  # root may read anything
                p = os.path.join(d, "secret.npy")
                arnet.write_npy(p, [1.0])
                os.chmod(p, 0)
                with self.assertRaises(PermissionError):
                    arnet.read_npy(p)
            # The library's own verdict on a file it read is ArnetError.
            p = os.path.join(d, "junk.npy")
            with open(p, "wb") as f:
                f.write(b"not numpy")
            with self.assertRaises(arnet.ArnetError) as cm:
                arnet.read_npy(p)
            self.assertEqual(cm.exception.status, arnet.E_FORMAT)

    def test_numbers_never_wrap(self):
        # What ctypes would wrap or round is refused before any C call,
        # as a ValueError naming the argument.
        m = arnet.Model(feature_dim=4)
        cases = [
            (lambda: arnet.Trainer(m, normal_per_batch=2**32 + 10), "normal_per_batch"),
            (lambda: arnet.Trainer(m, normal_per_batch=-1), "normal_per_batch"),
            (lambda: arnet.Trainer(m, seed=2**64), "seed"),
            (lambda: arnet.Trainer(m, lr=1e300), "lr"),
            (lambda: arnet.Stream(window=2**32 + 5), "window"),
            (lambda: arnet.Stream(min_on_clips=-1), "min_on_clips"),
            (lambda: arnet.Scorer(m, max_batch=2**64 + 3), "max_batch"),
            (lambda: arnet.Scorer(m, threads=2**31), "threads"),
            (lambda: arnet.Model(feature_dim=2**32), "feature_dim"),
            (lambda: arnet.Model(feature_dim=4, seed=-1), "seed"),
            (lambda: arnet.Dataset(feature_dim=-3), "feature_dim"),
            (lambda: arnet.write_npy("x.npy", [1.0], shape=(-1,)), "shape[0]"),
            (lambda: arnet.loss_dmil([0.5], 2**31), "label"),
        ]
        for fn, name in cases:
            with self.assertRaises(ValueError) as cm:
                fn()
            self.assertIsInstance(cm.exception, arnet.ArnetError)
            self.assertEqual(cm.exception.status, arnet.E_INVALID)
            self.assertIn(name, str(cm.exception))
        with self.assertRaises(TypeError):
            arnet.Stream(window=2.5)
        with self.assertRaises(TypeError):
            arnet.Trainer(m, normal_per_batch="30")
        # The library's own limit, in its words, also a ValueError.
        ds = arnet.synth(seed=1, feature_dim=4)[0]
        with self.assertRaises(ValueError) as cm:
            arnet.Trainer(m, ds, normal_per_batch=70000)
        self.assertIn("normal_per_batch 70000 is above 65536", str(cm.exception))

    def test_messages_are_per_thread(self):
        # Each thread fails in its own way many times; every error must carry
        # its own thread's message, never the other's.
        problems = []

        def work(kind):
            for _ in range(300):
                try:
                    if kind == 0:
                        arnet.Model(feature_dim=0)
                    else:
                        arnet.roc_auc([0.1, 0.2], [1, 1])
                except arnet.ArnetError as e:
                    want = "feature_dim" if kind == 0 else "class"
                    if want not in e.message:
                        problems.append(e.message)
                else:
                    problems.append("no error")

        threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1, 0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
