"""arnet_build.py -- a self-contained PEP 517 / PEP 660 build backend for the
pure-Python arnet package.

Why not setuptools: a setuptools build needs setuptools and wheel inside the
build environment, which pip downloads (build isolation) or takes from the
interpreter (--no-build-isolation; many interpreters have setuptools but no
wheel).  This backend needs nothing beyond the standard library, so
`pip install bindings/python` works offline with any pip >= 21.3.

It packs arnet/*.py into a py3-none-any wheel with the metadata of
pyproject.toml's [project] table (name, version, description,
requires-python, the numpy extra).
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "arnet"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("[project]", 1)[1].split("\n[", 1)[0]

    def field(name):
        m = re.search(r'^%s\s*=\s*"([^"]*)"' % re.escape(name), section, re.M)
        return m.group(1) if m else None

    return {"name": field("name"), "version": field("version"),
            "summary": field("description"), "requires_python": field("requires-python")}


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", "Name: %s" % p["name"], "Version: %s" % p["version"],
             "Summary: %s" % p["summary"], "License: MIT"]
    if p["requires_python"]:
        lines.append("Requires-Python: %s" % p["requires_python"])
    lines += ["Provides-Extra: numpy", 'Requires-Dist: numpy ; extra == "numpy"']
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.isfile(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def _dist_info(p):
    return "%s-%s.dist-info" % (p["name"], p["version"])


def _wheel_name(p, tag="py3-none-any"):
    return "%s-%s-%s.whl" % (p["name"], p["version"], tag)


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d" % (name, digest.decode("ascii"), len(data))


def _write_wheel(wheel_directory, files):
    """files: list of (archive name, bytes).  Adds the dist-info and RECORD."""
    p = _project()
    info = _dist_info(p)
    files = list(files) + [
        (info + "/METADATA", _metadata().encode("utf-8")),
        (info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: arnet_build\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (info + "/top_level.txt", (PACKAGE + "\n").encode("ascii")),
    ]
    record = [_record_line(n, d) for n, d in files] + [info + "/RECORD,,"]
    files.append((info + "/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    name = _wheel_name(p)
    path = os.path.join(wheel_directory, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files:
            zi = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, d)
    return name


def _package_files():
    out = []
    pkg = os.path.join(ROOT, PACKAGE)
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            with open(os.path.join(pkg, name), "rb") as f:
                out.append(("%s/%s" % (PACKAGE, name), f.read()))
    return out


# -- PEP 517 -----------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    p = _project()
    info = _dist_info(p)
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a wheel whose .pth file puts this source folder on sys.path."""
    return _write_wheel(wheel_directory, [("arnet_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = "%s-%s" % (p["name"], p["version"])
    name = base + ".tar.gz"
    members = ["pyproject.toml", "README.md", "_build/arnet_build.py"]
    members += [n for n, _ in _package_files()]
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for rel in members:
            src = os.path.join(ROOT, rel)
            if os.path.isfile(src):
                tar.add(src, arcname=base + "/" + rel)
        pkg_info = _metadata().encode("utf-8")
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        tar.addfile(ti, io.BytesIO(pkg_info))
    return name
