"""The package's version: the repository's VERSION file, the one place the
project writes it (the C header, the library, pkg-config and the wheel take it
from there too).  An installed package carries this file with the version as
a constant instead (bindings/python/meson.build, from _version.py.in)."""
import os


def from_file(path):
    """The version written in the VERSION file at path."""
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    if not text or len(text.split()) != 1:
        raise RuntimeError("%s: no version" % path)
    return text


version = from_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                 os.pardir, os.pardir, "VERSION"))
