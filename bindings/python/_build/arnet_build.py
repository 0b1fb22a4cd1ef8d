"""arnet_build.py -- a self-contained PEP 517 / PEP 660 build backend for the
pure-Python arnet package.

Why not setuptools: a setuptools build needs setuptools and wheel inside the
build environment, which pip downloads (build isolation) or takes from the
interpreter (--no-build-isolation; many interpreters have setuptools but no
wheel).  This backend needs nothing beyond the standard library, so
`pip install bindings/python` works offline with any pip >= 21.3.

It packs arnet/*.py into a py3-none-any wheel with the metadata of
pyproject.toml's [project] table (name, description, requires-python, the
numpy extra).  The version is meson.build's project version, the one place
the project writes it: read by arnet/_version.py in a source checkout, from
PKG-INFO in an sdist; the wheel's arnet/_version.py holds it as a constant.
"""
import base64
import hashlib
import importlib.util
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

    return {"name": field("name"), "version": _version(),
            "summary": field("description"), "requires_python": field("requires-python")}


def _version():
    meson = os.path.join(ROOT, os.pardir, os.pardir, "meson.build")
    if os.path.isfile(meson):
        path = os.path.join(ROOT, PACKAGE, "_version.py")
        spec = importlib.util.spec_from_file_location("_arnet_version", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.from_meson(meson)
    pkg_info = os.path.join(ROOT, "PKG-INFO")  # an unpacked sdist
    if os.path.isfile(pkg_info):
        with open(pkg_info, encoding="utf-8") as f:
            m = re.search(r"^Version: (\S+)$", f.read(), re.M)
        if m:
            return m.group(1)
    raise RuntimeError("arnet: no version: neither %s (a source checkout) nor %s (an sdist)"
                       % (os.path.normpath(meson), pkg_info))


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
        if name == "_version.py":
            # Built packages have no meson.build beside them: the constant.
            data = ('"""The package\'s version (meson.build\'s when it was built)."""\n'
                    'version = "%s"\n' % _version()).encode("utf-8")
            out.append(("%s/%s" % (PACKAGE, name), data))
        elif name.endswith(".py"):
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
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for rel in members:
            src = os.path.join(ROOT, rel)
            if os.path.isfile(src):
                tar.add(src, arcname=base + "/" + rel)
        generated = _package_files() + [("PKG-INFO", _metadata().encode("utf-8"))]
        for rel, data in generated:
            ti = tarfile.TarInfo(base + "/" + rel)
            ti.size = len(data)
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
    return name
