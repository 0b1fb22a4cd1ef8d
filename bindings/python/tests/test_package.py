"""test_package.py -- how the package is found and installed: the library
lookup order (ARNET_LIBRARY, the checkout's build folders, the system), the
ImportError for a missing library or a foreign ABI, and `pip install` of
bindings/python offline into a scratch folder."""
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
MESON_BUILD = os.path.join(PKG_ROOT, os.pardir, os.pardir, "meson.build")


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


class InstallTest(unittest.TestCase):
    def test_pip_install_offline(self):
        r = subprocess.run([sys.executable, "-m", "pip", "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            self.skipTest("pip is not available to %s" % sys.executable)
        with tempfile.TemporaryDirectory() as d:
            # Build from a copy of the checkout's parts it needs: the source
            # folder stays clean.  meson.build holds the version.
            checkout = os.path.join(d, "checkout")
            src = os.path.join(checkout, "bindings", "python")
            shutil.copytree(PKG_ROOT, src, ignore=shutil.ignore_patterns(
                "__pycache__", "tests", "build", "*.egg-info"))
            shutil.copy(MESON_BUILD, checkout)
            target = os.path.join(d, "site")
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                                "--no-deps", "--disable-pip-version-check", "--quiet",
                                "--target", target, src],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertTrue(os.path.isfile(os.path.join(target, "arnet", "__init__.py")))
            version = _version.from_meson(MESON_BUILD)
            self.assertIn("arnet-%s.dist-info" % version, os.listdir(target))
            lib = arnet.library_path
            r = run_python("import arnet; print(arnet.__file__); print(arnet.__version__); "
                           "print(arnet.Model(feature_dim=3).score([[1, 2, 3]]))",
                           {"ARNET_LIBRARY": lib, "PYTHONPATH": target}, cwd=d)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertTrue(r.stdout.startswith(os.path.join(target, "arnet")), r.stdout)
            # The installed package has its version without meson.build.
            self.assertEqual(r.stdout.split("\n")[1], version)


class VersionTest(unittest.TestCase):
    def test_one_version_everywhere(self):
        # meson.build's project version is the package's and the loaded
        # library's (built from the same checkout).
        if not os.path.isfile(MESON_BUILD):
            self.skipTest("not a source checkout")
        version = _version.from_meson(MESON_BUILD)
        self.assertEqual(arnet.__version__, version)
        self.assertEqual(arnet.version(), version)
        with open(os.path.join(PKG_ROOT, "pyproject.toml"), encoding="utf-8") as f:
            self.assertNotRegex(f.read(), r"(?m)^version\s*=")


if __name__ == "__main__":
    unittest.main()
