"""helpers.py -- what the binding tests share: optional numpy, pure-Python
double-precision references, a deterministic pseudo-random generator (no
dependence on numpy or on the library) and conversions to plain lists."""
import math
import os
import random
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    np = None

import arnet
from arnet import _lib


def needs(*names):
    """Skip a test (TAP "# SKIP") when the loaded library lacks a C function,
    naming it: parts of the library still being written."""
    missing = [n for n in names if not hasattr(_lib._raw, n)]
    return unittest.skipIf(bool(missing), "libarnet has no %s() yet" % ", ".join(missing))


needs_numpy = unittest.skipIf(np is None, "numpy is not importable by this interpreter")


def rows(n, f, seed=0, lo=-1.0, hi=1.0):
    r = random.Random(seed)
    return [[r.uniform(lo, hi) for _ in range(f)] for _ in range(n)]


def to_list(x):
    """numpy array / list (of lists) -> list (of lists) of Python floats."""
    if np is not None and isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [to_list(v) for v in x]
    return x


def f32(x):
    """Round a Python float to float32 (the library's inputs)."""
    import struct
    return struct.unpack("f", struct.pack("f", x))[0]


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def reference_scores(params, features):
    """AR-Net forward in double precision: s = sigmoid(relu(X W1^T + b1) w2 + b2)."""
    w1, b1, w2, b2 = (to_list(params["w1"]), to_list(params["b1"]), to_list(params["w2"]),
                      params["b2"])
    out = []
    for x in features:
        x = [f32(v) for v in x]
        z = b2
        for j, row in enumerate(w1):
            h = b1[j] + sum(a * b for a, b in zip(row, x))
            if h > 0:
                z += h * w2[j]
        out.append(sigmoid(z))
    return out


class TempDir(object):
    def __enter__(self):
        self._d = tempfile.TemporaryDirectory(prefix="arnet-py-")
        return self._d.name

    def __exit__(self, *exc):
        self._d.cleanup()


def path(*parts):
    return os.path.join(*parts)
