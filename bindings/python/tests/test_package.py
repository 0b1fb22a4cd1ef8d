"""test_package.py -- how the package is found and installed: the library
lookup order (ARNET_LIBRARY, the checkout's build folders, the system), the
ImportError for a missing library or a foreign ABI, and `pip install` of
bindings/python: an sdist, a wheel built from it offline, a new virtual
environment."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import arnet
from arnet import _version
from test_structs import _compiler, _include_dir

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(arnet.__file__)))
REPO_ROOT = os.path.normpath(os.path.join(PKG_ROOT, os.pardir, os.pardir))
VERSION_FILE = os.path.join(REPO_ROOT, "VERSION")


def run_python(code, env_changes, cwd=None):
    env = dict(os.environ)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          cwd=cwd, timeout=120)


class LookupTest(unittest.TestCase):
    def test_env_variable_wins(self):
        lib = arnet.library_path
        r = run_python("import arnet; print(arnet.library_path)",
                       {"ARNET_LIBRARY": lib, "PYTHONPATH": PKG_ROOT})
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(r.stdout.strip(), lib)

    def test_missing_library_is_an_import_error(self):
        r = run_python("import arnet",
                       {"ARNET_LIBRARY": "/nonexistent/libarnet.so.0", "PYTHONPATH": PKG_ROOT})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stdout)
        self.assertIn("/nonexistent/libarnet.so.0", r.stdout)
        self.assertIn("ARNET_LIBRARY", r.stdout)

    def test_build_folder_of_the_checkout(self):
        root = os.path.dirname(os.path.dirname(PKG_ROOT))
        if not os.path.isfile(os.path.join(root, "include", "arnet", "arnet.h")):
            self.skipTest("not a source checkout")
        from arnet import _lib
        found = _lib._source_checkout_candidates()
        if not found:
            self.skipTest("no build*/libarnet/libarnet.so.0 in the checkout")
        r = run_python("import arnet; print(arnet.library_path)",
                       {"ARNET_LIBRARY": None, "PYTHONPATH": PKG_ROOT})
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(r.stdout.strip(), found[0])
        self.assertTrue(found[0].startswith(os.path.join(root, "build")))

    def test_foreign_abi_is_refused(self):
        cc = _compiler()
        if cc is None:
            self.skipTest("no C compiler to build a fake library")
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "fake.c")
            so = os.path.join(d, "libarnet.so.0")
            with open(src, "w") as f:
                f.write("int arnet_abi_version(void) { return 7; }\n")
            r = subprocess.run(cc + ["-shared", "-fPIC", src, "-o", so],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            self.assertEqual(r.returncode, 0, r.stdout)
            r = run_python("import arnet", {"ARNET_LIBRARY": so, "PYTHONPATH": PKG_ROOT})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stdout)
        self.assertIn("ABI version 7", r.stdout)


class MissingFunctionTest(unittest.TestCase):
    def test_missing_c_function(self):
        # A part of the library not built yet: tests skip naming it, and the
        # binding raises NotImplementedError naming it.
        from helpers import needs
        from arnet import _lib

        @needs("arnet_no_such_function")
        class Probe(unittest.TestCase):
            def test(self):
                pass

        result = unittest.TestResult()
        Probe("test").run(result)
        self.assertEqual([reason for _, reason in result.skipped],
                         ["libarnet has no arnet_no_such_function() yet"])
        with self.assertRaises(NotImplementedError) as cm:
            _lib.require("arnet_no_such_function")
        self.assertIn("arnet_no_such_function", str(cm.exception))


def _wheel_tools():
    """None when this interpreter can build and install the wheel offline
    (meson-python, venv, pip, meson, ninja), else what is missing."""
    missing = []
    for module, package in (("mesonpy", "python3-mesonpy"), ("venv", "python3-venv"),
                            ("ensurepip", "python3-venv"), ("pip", "python3-pip")):
        try:
            __import__(module)
        except ImportError:
            missing.append("%s (Debian's %s)" % (module, package))
    for program in ("meson", "ninja", "git"):
        if shutil.which(program) is None:
            missing.append(program)
    return ", ".join(missing) or None


def _run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, **kw)


class InstallTest(unittest.TestCase):
    """The way a user installs the package: an sdist of bindings/python
    (meson dist through meson-python, with the library's sources), a wheel
    built from it offline, installed into a new virtual environment, imported
    and used with no ARNET_LIBRARY: the wheel's own libarnet.so.0."""

    def test_sdist_wheel_venv(self):
        missing = _wheel_tools()
        if missing:
            self.skipTest("needs %s to build the wheel" % missing)
        if not os.path.isdir(os.path.join(REPO_ROOT, ".git")) and \
                not os.path.isfile(os.path.join(REPO_ROOT, ".git")):
            self.skipTest("not a git checkout (meson dist makes the sdist from git)")
        with tempfile.TemporaryDirectory() as d:
            dist = os.path.join(d, "dist")
            os.mkdir(dist)
            r = _run([sys.executable, "-c",
                      "import mesonpy, sys; print(mesonpy.build_sdist(sys.argv[1]))", dist],
                     cwd=PKG_ROOT)
            self.assertEqual(r.returncode, 0, r.stdout)
            sdist = os.path.join(dist, r.stdout.strip().splitlines()[-1])
            self.assertTrue(os.path.isfile(sdist), r.stdout)
            # pip unpacks the sdist in a folder of its own: the build sees
            # only what the sdist holds, not this checkout.
            r = _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                      "--no-index", "--no-deps", "--disable-pip-version-check",
                      "--quiet", "--wheel-dir", dist, sdist], cwd=d)
            self.assertEqual(r.returncode, 0, r.stdout)
            wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
            self.assertEqual(len(wheels), 1, os.listdir(dist))
            version = _version.version
            self.assertTrue(wheels[0].startswith("arnet-%s-" % version), wheels)
            venv = os.path.join(d, "venv")
            r = _run([sys.executable, "-m", "venv", "--system-site-packages", venv])
            self.assertEqual(r.returncode, 0, r.stdout)
            vpy = os.path.join(venv, "bin", "python")
            r = _run([vpy, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet",
                      "--disable-pip-version-check", os.path.join(dist, wheels[0])])
            self.assertEqual(r.returncode, 0, r.stdout)
            env = dict(os.environ)
            for k in ("ARNET_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH"):
                env.pop(k, None)
            r = _run([vpy, "-c", "import arnet; print(arnet.library_path); "
                      "print(arnet.__version__); "
                      "print(arnet.Model(feature_dim=3).score([[1, 2, 3]])[0] > 0)"],
                     env=env, cwd=d)
            self.assertEqual(r.returncode, 0, r.stdout)
            lines = r.stdout.split("\n")
            self.assertTrue(lines[0].startswith(venv) and
                            lines[0].endswith(os.path.join("arnet", "libarnet.so.0")), r.stdout)
            self.assertEqual(lines[1], version)
            self.assertEqual(lines[2], "True")
            # ARNET_LIBRARY, and a libarnet the system's loader finds (here
            # through LD_LIBRARY_PATH), still win over the bundled copy.
            lib = arnet.library_path
            for var, value, want in (("ARNET_LIBRARY", lib, lib),
                                     ("LD_LIBRARY_PATH", os.path.dirname(lib), None)):
                if var == "LD_LIBRARY_PATH" and not os.path.exists(
                        os.path.join(os.path.dirname(lib), "libarnet.so")):
                    continue  # find_library looks for the development name
                r = _run([vpy, "-c", "import arnet; print(arnet.library_path)"],
                         env=dict(env, **{var: value}), cwd=d)
                self.assertEqual(r.returncode, 0, r.stdout)
                got = r.stdout.strip()
                if want is not None:
                    self.assertEqual(got, want)
                else:
                    self.assertFalse(got.startswith(venv), got)


class VersionTest(unittest.TestCase):
    def test_one_version_everywhere(self):
        # The VERSION file is the package's version and the loaded
        # library's (built from the same checkout).
        if not os.path.isfile(VERSION_FILE):
            self.skipTest("not a source checkout")
        version = _version.from_file(VERSION_FILE)
        self.assertEqual(arnet.__version__, version)
        self.assertEqual(arnet.version(), version)
        with open(os.path.join(PKG_ROOT, "pyproject.toml"), encoding="utf-8") as f:
            self.assertNotRegex(f.read(), r"(?m)^version\s*=")


if __name__ == "__main__":
    unittest.main()
