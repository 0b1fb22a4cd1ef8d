"""test_errors.py -- ArnetError carries the C status, its name and the
thread's last-error message, read right after the failing call."""
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
        with self.assertRaises(arnet.ArnetError) as cm:
            arnet.Dataset.from_manifest("/nonexistent/dir/list.txt")
        self.assertEqual(cm.exception.status, arnet.E_IO)
        self.assertIn("/nonexistent/dir/list.txt", cm.exception.message)

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
