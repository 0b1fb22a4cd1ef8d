"""run_tests.py -- runs the binding's unittest cases (test_*.py beside this
file) and reports them as TAP: one "ok N - module.Class.test" line per case,
"# SKIP reason" for skipped ones, the plan "1..N" at the end and exit
status 1 when any case failed, so meson counts cases and sees the result.

    python3 run_tests.py [pattern]     (pattern: substring of the case names)
"""
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class TapResult(unittest.TestResult):
    def __init__(self, stream):
        super().__init__()
        self.out = stream
        self.count = 0
        self.bad = 0

    def _line(self, ok, test, directive=""):
        self.count += 1
        name = test.id()
        line = "%s %d - %s" % ("ok" if ok else "not ok", self.count, name)
        if directive:
            line += " # " + directive
        self.out.write(line + "\n")
        self.out.flush()

    def _diag(self, text):
        for ln in text.rstrip("\n").split("\n"):
            self.out.write("# " + ln + "\n")

    def addSuccess(self, test):
        self._line(True, test)

    def addFailure(self, test, err):
        self.bad += 1
        self._line(False, test)
        self._diag("".join(traceback.format_exception(*err)))

    def addError(self, test, err):
        self.bad += 1
        self._line(False, test)
        self._diag("".join(traceback.format_exception(*err)))

    def addSkip(self, test, reason):
        self._line(True, test, "SKIP " + reason.replace("\n", " "))

    def addExpectedFailure(self, test, err):
        self._line(True, test, "TODO expected failure")

    def addUnexpectedSuccess(self, test):
        self.bad += 1
        self._line(False, test, "unexpected success")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.bad += 1
            self._line(False, subtest)
            self._diag("".join(traceback.format_exception(*err)))


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            for u in _flatten(t):
                yield u
        else:
            yield t


def main(argv):
    sys.path.insert(0, HERE)
    pattern = argv[1] if len(argv) > 1 else ""
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    cases = [t for t in _flatten(suite) if pattern in t.id()]
    try:
        import numpy
        np_text = "numpy %s" % numpy.__version__
    except ImportError:
        np_text = "no numpy"
    import arnet
    sys.stdout.write("# %s %s (%s); libarnet %s at %s\n" % (
        sys.executable, sys.version.split()[0], np_text, arnet.version(),
        arnet.library_path))
    result = TapResult(sys.stdout)
    start = time.time()
    unittest.TestSuite(cases).run(result)
    sys.stdout.write("1..%d\n" % result.count)
    sys.stdout.write("# %d cases, %d failed, %.1f s\n" % (result.count, result.bad,
                                                          time.time() - start))
    return 1 if result.bad or result.count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
