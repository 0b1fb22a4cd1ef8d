"""The package's version: meson.build's project version, the one place the
project writes it (the C header, the library and pkg-config take it from
there too).  A built wheel carries this file with the version as a constant
instead (bindings/python/_build/arnet_build.py)."""
import os
import re


def from_meson(path):
    """The version in the project() call of the meson.build at path."""
    with open(path, encoding="utf-8") as f:
        m = re.search(r"\bproject\([^)]*?\bversion\s*:\s*'([^']+)'", f.read(), re.S)
    if not m:
        raise RuntimeError("%s: no version in project()" % path)
    return m.group(1)


version = from_meson(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                  os.pardir, os.pardir, "meson.build"))
