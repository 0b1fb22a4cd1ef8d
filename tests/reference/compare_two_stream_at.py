#!/usr/bin/python3
"""compare_two_stream_at.py -- `arnet extract --flow-at WxH` (flow computed
on the whole frame at a size of its own, then resized to 224 x 224: the
AR-Net authors' recipe) against a reference pipeline built from the
documented recipe (docs/extractor.md, "Recipes") with independent parts:

- the frame resized to W x H by Pillow's Image.resize(BILINEAR) (the RGB
  stream's filter, as the docs say), grey by cv2's RGB2GRAY;
- TV-L1 by OpenCV (cv2.optflow.DualTVL1OpticalFlow_create, Debian's
  python3-opencv) with the preset's parameters;
- the flow mapped at W x H as a stored flow image (float: clip / b; q8,
  q8-raw: the 8-bit image round(255 (v + b) / 2b), x in both channels with
  xx), then that image resized to 224 x 224 by cv2.resize INTER_LINEAR
  (uint8 for the 8-bit images, as the AR-Net authors' loader resized
  them), displacements unscaled, read back as the recipe says;
- the RGB stream: Pillow BILINEAR to 224 x 224 (--resize 224x224);
- the PyTorch I3D of i3d_torch.py with 3 and 2 input channels, random
  seeded weights imported with `arnet import i3d`.

Frames: 17 frames of a 400 x 300 window of OpenCV's vtest.avi (opencv-doc),
or generated frames without it.  Two cases: `--flow-at 160x120` (float
values, x and y, OpenCV's CPU preset: the flow resized up) and the AR-Net
authors' whole command, `--flow-at 320x240 --flow-preset cuda --flow-values
q8-raw --flow-channels xx` (resized down).  Checks per case: the [1, 2048]
feature's cosine with the reference's >= 0.999, and the same for the flow
half's flow-dependent part (its difference from zero flow's features under
the same recipe); a mirrored flow must fail that measure.

    compare_two_stream_at.py       # ARNET_EXE names the arnet program

Writes TAP; skips (naming what is missing) without numpy, torch, cv2 or PIL.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import cv2
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP /usr/bin/python3 lacks numpy, torch, cv2 (python3-opencv) or PIL "
          "(python3-pil): %s" % e)
    sys.exit(0)
if not hasattr(cv2, "optflow"):
    print("1..0 # SKIP cv2 has no optflow module (Debian's python3-opencv has it)")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_two_stream import cosine, import_networks, net_features  # noqa: E402

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
N = 17  # one two-stream clip
W, H = 400, 300
BOUND = 20.0
MIN_COSINE = 0.999

CASES = [
    # (name, flow size, preset, values, channels)
    ("--flow-at 160x120 (float, xy, opencv preset)", (160, 120), "opencv", "float", "xy"),
    ("the AR-Net authors' command: --resize 224x224 --flow-at 320x240 --flow-preset cuda "
     "--flow-values q8-raw --flow-channels xx", (320, 240), "cuda", "q8-raw", "xx"),
]


def frames_rgb():
    """[17, 300, 400, 3] uint8 RGB and where they came from."""
    if os.path.exists(VTEST):
        cap = cv2.VideoCapture(VTEST)
        out = []
        for i in range(100 + N):
            ok, bgr = cap.read()
            if not ok:
                break
            if i >= 100:
                out.append(cv2.cvtColor(bgr[150:150 + H, 250:250 + W], cv2.COLOR_BGR2RGB))
        if len(out) == N:
            return np.stack(out), "vtest.avi frames 100..116, 400 x 300 window at x 250, y 150"
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    out = []
    for i in range(N):
        u, v = xx - 1.7 * i, yy - 0.6 * i
        g = 128 + 60 * np.sin(u * 0.13) * np.cos(v * 0.11) + 40 * np.sin((u + 2 * v) * 0.03)
        out.append(np.stack([g, g * 0.9 + 10, g * 0.8 + 20], -1).clip(0, 255).astype(np.uint8))
    return np.stack(out), "generated 400 x 300 frames (opencv-doc's vtest.avi is not installed)"


def pil_resize(frame, size):
    return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))


def tvl1(preset):
    args = dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01,
                innnerIterations=30, outerIterations=10, scaleStep=0.8, gamma=0.0,
                medianFiltering=5)
    if preset == "cuda":  # dense_flow/denseflow's CUDA TV-L1: 300 inner, 1 outer, no median
        args.update(innnerIterations=300, outerIterations=1, medianFiltering=1)
    return cv2.optflow.DualTVL1OpticalFlow_create(**args)


def raw_flows(frames, size, preset):
    """16 raw flows at size (W x H), [16, h, w, 2] float32."""
    tv = tvl1(preset)
    grey = [cv2.cvtColor(pil_resize(f, size), cv2.COLOR_RGB2GRAY) for f in frames]
    return np.stack([tv.calc(grey[i], grey[i + 1], None) for i in range(len(grey) - 1)])


def flow_input(flows, values, channels):
    """Raw flows at their size -> [16, 224, 224, 2] network input: mapped as a
    stored flow image at that size, the image resized (cv2 INTER_LINEAR),
    read back."""
    out = []
    for f in flows:
        v = np.clip(f, -BOUND, BOUND)
        if channels == "xx":
            v = np.stack([v[..., 0], v[..., 0]], -1)
        if values == "float":
            img = (v / BOUND).astype(np.float32)
            out.append(cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR))
            continue
        q = np.round(255.0 * (v + BOUND) / (2 * BOUND)).astype(np.uint8)
        q = cv2.resize(q, (224, 224), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out.append(q if values == "q8-raw" else q / 255.0 * 2.0 - 1.0)
    return np.stack(out).astype(np.float32)


def main():
    exe = os.environ.get("ARNET_EXE", "arnet")
    torch.set_num_threads(2)
    frames, origin = frames_rgb()
    tests = []

    def check(ok, what):
        tests.append((ok, what))

    with tempfile.TemporaryDirectory() as tmp:
        j = lambda name: os.path.join(tmp, name)  # noqa: E731
        nets = import_networks(exe, j, 31, 32)
        if not nets:
            return 1
        rgb_net, flow_net = nets
        np.save(j("frames.npy"), frames)

        rgb_clip = np.stack([pil_resize(f, (224, 224)) for f in frames[:16]])
        rgb_clip = (rgb_clip.astype(np.float64) * 2.0 / 255.0 - 1.0).astype(np.float32)
        ref_rgb = net_features(rgb_net, rgb_clip)

        for k, (name, size, preset, values, channels) in enumerate(CASES):
            out = j("case%d.npy" % k)
            cmd = [exe, "extract", "--extractor", j("rgb.arnet"), "--flow-extractor",
                   j("flow.arnet"), "--frames", j("frames.npy"), "--out", out, "--resize",
                   "224x224", "--flow-at", "%dx%d" % size, "--flow-preset", preset,
                   "--flow-values", values, "--flow-channels", channels, "--threads", "2",
                   "--quiet"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                check(False, "%s: %s exited %d: %s" % (name, " ".join(cmd), r.returncode,
                                                      r.stderr.strip()[:300]))
                continue
            got = np.load(out)
            check(got.shape == (1, 2048), "%s: [1, 2048] for 17 frames (got %s)"
                  % (name, got.shape))
            got = got.reshape(-1)[:2048] if got.size >= 2048 else np.zeros(2048, np.float32)

            flows = raw_flows(frames, size, preset)
            ref_flow = net_features(flow_net, flow_input(flows, values, channels))
            ref = np.concatenate([ref_rgb, ref_flow])
            c = cosine(got, ref)
            rgb_err = float(np.abs(got[:1024] - ref_rgb).max() / np.abs(ref_rgb).max())
            check(c >= MIN_COSINE and rgb_err <= 1e-3,
                  "%s on %s: cosine with Pillow + OpenCV TV-L1 + cv2.resize + PyTorch I3D "
                  "%.7f (>= %g); RGB half within %.2g of the largest feature"
                  % (name, origin, c, MIN_COSINE, rgb_err))
            # Random weights give every feature a large common part: compare
            # what the flow contributes, the difference from zero flow's
            # features under the same recipe.
            zero = net_features(flow_net, flow_input(np.zeros_like(flows), values, channels))
            cf = cosine(got[1024:] - zero, ref_flow - zero)
            check(cf >= MIN_COSINE, "%s: cosine of the flow-dependent part (flow features "
                  "minus zero flow's) %.6f (>= %g)" % (name, cf, MIN_COSINE))
            # A geometry mistake (the flow image mirrored, x kept) must fail it.
            wrong = net_features(flow_net, flow_input(flows[:, :, ::-1], values, channels))
            cw = cosine(wrong - zero, ref_flow - zero)
            check(cw < MIN_COSINE, "%s: discriminates: the mirrored flow's flow-dependent part "
                  "has cosine %.6f (< %g) with the reference's" % (name, cw, MIN_COSINE))

    print("1..%d" % len(tests))
    for i, (ok, what) in enumerate(tests, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
    return 0 if all(ok for ok, _ in tests) else 1


if __name__ == "__main__":
    sys.exit(main())
