"""test_docs.py -- every ```python block of docs/python.md runs, in order,
in one namespace, in a scratch folder: the guide's examples cannot rot."""
import contextlib
import io
import os
import re
import tempfile
import unittest

from test_structs import _include_dir


def _guide():
    inc = _include_dir()
    if inc is None:
        return None
    path = os.path.join(os.path.dirname(inc), "docs", "python.md")
    return path if os.path.isfile(path) else None


class DocsTest(unittest.TestCase):
    def test_examples_run(self):
        path = _guide()
        if path is None:
            self.skipTest("docs/python.md not found (not a source checkout)")
        with open(path, encoding="utf-8") as f:
            blocks = re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S)
        self.assertGreater(len(blocks), 10)
        namespace = {"__name__": "__docs__"}
        old = os.getcwd()
        with tempfile.TemporaryDirectory() as d:
            os.chdir(d)
            try:
                for i, code in enumerate(blocks):
                    with self.subTest(block=i, first_line=code.split("\n", 1)[0]):
                        with contextlib.redirect_stdout(io.StringIO()):
                            exec(compile(code, "%s block %d" % (path, i), "exec"), namespace)
            finally:
                os.chdir(old)


if __name__ == "__main__":
    unittest.main()
