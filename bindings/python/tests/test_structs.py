"""test_structs.py -- every ctypes mirror in arnet._lib has arnet.h's layout:
its size equals the struct_size the C *_init() writes, and (when a C compiler
is at hand, $ARNET_CC from meson or cc) every field's offset and the size
equal what the compiler says for the real header."""
import ctypes
import os
import shlex
import shutil
import subprocess
import tempfile
import unittest

from arnet import _lib


def _compiler():
    cc = os.environ.get("ARNET_CC")
    if cc:
        return shlex.split(cc)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _include_dir():
    src = os.environ.get("ARNET_SOURCE_DIR")
    if not src:
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
    inc = os.path.join(src, "include")
    return inc if os.path.isfile(os.path.join(inc, "arnet", "arnet.h")) else None


def _include_flags(inc):
    """-I flags for arnet.h in the source tree and the arnet_version.h the
    build generates beside it (build/include, found from $ARNET_BUILD_DIR or
    the loaded library's build folder)."""
    flags = ["-I", inc]
    build = os.environ.get("ARNET_BUILD_DIR")
    if not build and _lib.library_path:
        build = os.path.dirname(os.path.dirname(os.path.abspath(_lib.library_path)))
    if build and os.path.isfile(os.path.join(build, "include", "arnet", "arnet_version.h")):
        flags += ["-I", os.path.join(build, "include")]
    return flags


def _c_name(field):
    return "lambda" if field == "lambda_" else field


class StructLayoutTest(unittest.TestCase):
    def test_size_equals_c_struct_size(self):
        for cname, (cls, init) in _lib.STRUCTS.items():
            if init is None or not hasattr(_lib._raw, init):
                continue
            with self.subTest(struct=cname):
                # Room for a larger C struct so a mismatch is reported, not a crash.
                buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + 512)
                getattr(_lib._raw, init)(ctypes.cast(buf, ctypes.POINTER(cls)))
                c_size = ctypes.c_size_t.from_buffer(buf).value
                self.assertEqual(ctypes.sizeof(cls), c_size)

    def test_new_struct_sets_our_size(self):
        opt = _lib.new_struct(_lib.TrainOptions) if _lib.has("arnet_train_options_init") \
            else _lib.new_struct(_lib.ModelConfig)
        self.assertEqual(opt.struct_size, ctypes.sizeof(type(opt)))

    def test_offsets_match_compiler(self):
        cc = _compiler()
        inc = _include_dir()
        if cc is None or inc is None:
            self.skipTest("no C compiler or no arnet.h to compare layouts with")
        lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <arnet/arnet.h>",
                 "int main(void) {"]
        expected = []
        for cname, (cls, _) in sorted(_lib.STRUCTS.items()):
            lines.append('printf("%%s %%zu\\n", "%s", sizeof(%s));' % (cname, cname))
            expected.append("%s %d" % (cname, ctypes.sizeof(cls)))
            for field, _t in cls._fields_:
                lines.append('printf("%%s.%%s %%zu\\n", "%s", "%s", offsetof(%s, %s));'
                             % (cname, field, cname, _c_name(field)))
                expected.append("%s.%s %d" % (cname, field, getattr(cls, field).offset))
        lines += ["return 0;", "}"]
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "layout.c")
            exe = os.path.join(d, "layout")
            with open(src, "w") as f:
                f.write("\n".join(lines) + "\n")
            r = subprocess.run(cc + _include_flags(inc) + [src, "-o", exe], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
            if r.returncode != 0:
                self.fail("compiling the layout probe failed:\n" + r.stdout)
            got = subprocess.run([exe], stdout=subprocess.PIPE, universal_newlines=True,
                                 check=True).stdout.split("\n")
        self.assertEqual([g for g in got if g], expected)


if __name__ == "__main__":
    unittest.main()
