"""sdist_libarnet.py -- meson dist script of the Python package: in the sdist,
subprojects/libarnet and VERSION are links into the repository this folder
sits in, which an unpacked sdist does not have.  Replaces them with the
library's sources (git archive of the repository's HEAD, only what a
-Dlibrary_only build reads) and the VERSION file's text."""
import io
import os
import shutil
import subprocess
import sys
import tarfile

# What `meson setup -Dlibrary_only=true` reads (the wheel test builds from
# an sdist, so a path missing here fails the suite).
LIBRARY_PATHS = ["meson.build", "meson_options.txt", "VERSION", "COPYING", "README.md",
                 "include", "libarnet"]


def main():
    dist = os.environ["MESON_PROJECT_DIST_ROOT"]
    src = os.environ["MESON_PROJECT_SOURCE_ROOT"]
    repo = os.path.realpath(os.path.join(src, "subprojects", "libarnet"))
    sub = os.path.join(dist, "subprojects", "libarnet")
    if os.path.islink(sub):
        os.unlink(sub)
    elif os.path.isdir(sub):
        shutil.rmtree(sub)
    tar = subprocess.run(["git", "-C", repo, "archive", "--format=tar", "HEAD", "--"]
                         + LIBRARY_PATHS, stdout=subprocess.PIPE, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(sub)
    version = os.path.join(dist, "VERSION")
    if os.path.islink(version):
        os.unlink(version)
        shutil.copyfile(os.path.join(repo, "VERSION"), version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
