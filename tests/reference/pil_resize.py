#!/usr/bin/python3
"""pil_resize.py -- the reference for libarnet's preprocessing: Pillow's
Image.resize on raw RGB images (tests/test_preprocess.c), and UR-DMU's whole
frame pipeline (tests/test_extractor.c).

    pil_resize.py DIR
    pil_resize.py urdmu FRAMES.rgb N W H OUT.npy

DIR/index.txt has one case a line, `NAME W H OUT_W OUT_H FILTER` (FILTER
`bilinear` or `lanczos`); DIR/NAME.rgb holds H x W x 3 bytes.  Writes
DIR/NAME.pil with OUT_H x OUT_W x 3 bytes: Image.frombytes('RGB', ...)
.resize((OUT_W, OUT_H), Image.BILINEAR or Image.LANCZOS) -- what the
published extractors call (UR-DMU: .resize((340, 256), Image.ANTIALIAS),
ANTIALIAS being LANCZOS).  Exit 3 when Pillow is missing.

urdmu: FRAMES.rgb holds N frames of H x W x 3 bytes.  Each goes through
UR-DMU's load_frame (feature_extract/i3d_extract.py of henrryzh1/UR-DMU)
without its JPEG round trip -- resize((340, 256), ANTIALIAS), float64,
data * 2 / 255 - 1 -- then the clip through its oversample_data (five crops
of the frame, five of data[:, :, :, ::-1]); OUT.npy gets the ten cropped
clips one after the other, [10 N, 224, 224, 3] float32, ready for
i3d_torch.py features --clip-frames N.  Exit 3 without Pillow or NumPy.
"""
import os
import sys

try:
    from PIL import Image
except ImportError:
    sys.exit(3)

FILTERS = {"bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}


def urdmu(frames_path, n, w, h, out_path):
    try:
        import numpy as np
    except ImportError:
        return 3
    raw = open(frames_path, "rb").read()
    assert len(raw) == n * w * h * 3
    data = np.zeros((1, n, 256, 340, 3))
    for i in range(n):
        img = Image.frombytes("RGB", (w, h), raw[i * w * h * 3:(i + 1) * w * h * 3])
        img = img.resize((340, 256), Image.LANCZOS)  # Image.ANTIALIAS
        a = np.array(img).astype(float)
        data[0, i] = (a * 2 / 255) - 1
    # oversample_data, as UR-DMU writes it
    data_flip = np.array(data[:, :, :, ::-1, :])
    crops = [data[:, :, :224, :224, :], data[:, :, :224, -224:, :],
             data[:, :, 16:240, 58:282, :], data[:, :, -224:, :224, :],
             data[:, :, -224:, -224:, :],
             data_flip[:, :, :224, :224, :], data_flip[:, :, :224, -224:, :],
             data_flip[:, :, 16:240, 58:282, :], data_flip[:, :, -224:, :224, :],
             data_flip[:, :, -224:, -224:, :]]
    out = np.concatenate([c[0] for c in crops], axis=0).astype(np.float32)
    np.save(out_path, out)
    return 0


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
    if sys.argv[1] == "urdmu":
        a = sys.argv[2:]
        sys.exit(urdmu(a[0], int(a[1]), int(a[2]), int(a[3]), a[4]))
    sys.exit(main(sys.argv[1]))
