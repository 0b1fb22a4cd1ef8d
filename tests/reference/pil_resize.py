#!/usr/bin/python3
"""pil_resize.py -- the reference for libarnet's resize (tests/test_preprocess.c):
Pillow's Image.resize on raw RGB images.

    pil_resize.py DIR

DIR/index.txt has one case a line, `NAME W H OUT_W OUT_H FILTER` (FILTER
`bilinear` or `lanczos`); DIR/NAME.rgb holds H x W x 3 bytes.  Writes
DIR/NAME.pil with OUT_H x OUT_W x 3 bytes: Image.frombytes('RGB', ...)
.resize((OUT_W, OUT_H), Image.BILINEAR or Image.LANCZOS) -- what the
published extractors call (UR-DMU: .resize((340, 256), Image.ANTIALIAS),
ANTIALIAS being LANCZOS).  Exit 3 when Pillow is missing.
"""
import os
import sys

try:
    from PIL import Image
except ImportError:
    sys.exit(3)

FILTERS = {"bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}


def main(folder):
    with open(os.path.join(folder, "index.txt")) as f:
        for line in f:
            if not line.strip():
                continue
            name, w, h, ow, oh, filt = line.split()
            w, h, ow, oh = int(w), int(h), int(ow), int(oh)
            with open(os.path.join(folder, name + ".rgb"), "rb") as g:
                data = g.read()
            assert len(data) == w * h * 3, name
            img = Image.frombytes("RGB", (w, h), data)
            out = img.resize((ow, oh), FILTERS[filt])
            assert out.size == (ow, oh)
            with open(os.path.join(folder, name + ".pil"), "wb") as g:
                g.write(out.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
