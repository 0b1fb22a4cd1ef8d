#!/usr/bin/python3
"""compare_two_stream.py -- `arnet extract --extractor RGB --flow-extractor
FLOW` end to end against the reference pipeline built from independent
parts: OpenCV's TV-L1 (cv2.optflow.DualTVL1OpticalFlow_create, Debian's
python3-opencv, OpenCV's CPU defaults) on grey frames (cv2 RGB2GRAY), flow
clipped to [-20, 20] and scaled to [-1, 1], and the PyTorch I3D of
i3d_torch.py with 3 (RGB) and 2 (flow) input channels, random seeded
weights imported with `arnet import i3d`.  One clip: 17 frames of OpenCV's
vtest.avi (opencv-doc), a 224 x 224 window (the network's input size; no
resize, so the crop is the frame), or generated frames without opencv-doc.

Checks: the [1, 2048] feature (RGB then flow) has cosine >= 0.999 with the
reference's; so has the flow half's flow-dependent part (its difference
from zero flow's features: random weights give every feature a large
common part), which a wrong flow fails; --split-streams writes the two
halves bit for bit; the AR-Net authors' recipe (8-bit values, x in both
channels) against the reference with the same mapping; the check fails on
a wrong flow (zero flow); extractors given the wrong way round are refused
naming the file.

    compare_two_stream.py       # ARNET_EXE names the arnet program

Writes TAP; skips (naming what is missing) without numpy, torch or cv2.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import cv2
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP /usr/bin/python3 lacks numpy, torch or cv2 (python3-opencv): %s" % e)
    sys.exit(0)
if not hasattr(cv2, "optflow"):
    print("1..0 # SKIP cv2 has no optflow module (Debian's python3-opencv has it)")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import i3d_torch  # noqa: E402

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
N = 17  # one two-stream clip: 16 RGB frames, 16 flows
BOUND = 20.0
MIN_COSINE = 0.999


def frames_224():
    """[17, 224, 224, 3] uint8 RGB and where they came from."""
    if os.path.exists(VTEST):
        cap = cv2.VideoCapture(VTEST)
        out = []
        for i in range(100 + N):  # people walking, from frame 100
            ok, bgr = cap.read()
            if not ok:
                break
            if i >= 100:
                out.append(cv2.cvtColor(bgr[200:424, 300:524], cv2.COLOR_BGR2RGB))
        if len(out) == N:
            return np.stack(out), "vtest.avi frames 100..116, window x 300, y 200"
    yy, xx = np.mgrid[0:224, 0:224].astype(np.float64)
    out = []
    for i in range(N):
        u, v = xx - 1.7 * i, yy - 0.6 * i
        g = 128 + 60 * np.sin(u * 0.13) * np.cos(v * 0.11) + 40 * np.sin((u + 2 * v) * 0.03)
        out.append(np.stack([g, g * 0.9 + 10, g * 0.8 + 20], -1).clip(0, 255).astype(np.uint8))
    return np.stack(out), "generated frames (opencv-doc's vtest.avi is not installed)"


def tvl1_flows(frames):
    """16 raw flows [16, 224, 224, 2] by OpenCV's TV-L1, its CPU defaults."""
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return np.stack([tvl1.calc(grey[i], grey[i + 1], None) for i in range(len(grey) - 1)])


def mapped(flows, values="float", channels="xy"):
    v = np.clip(flows, -BOUND, BOUND)
    if values == "q8":
        v = np.round(255.0 * (v + BOUND) / (2 * BOUND)) / 255.0 * 2.0 - 1.0
    else:
        v = v / BOUND
    if channels == "xx":
        v = np.stack([v[..., 0], v[..., 0]], -1)
    return v.astype(np.float32)


def net_features(net, clip):
    """clip [T, H, W, C] -> [1024]."""
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).unsqueeze(0)
        return net(x)[0].numpy()


def cosine(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def import_networks(exe, j, rgb_seed, flow_seed):
    """Random reference I3Ds (RGB, and flow with 2 input channels), saved as
    torch files and imported by `arnet import i3d` to j("rgb.arnet") and
    j("flow.arnet"): (rgb_net, flow_net), or None after a "Bail out!" line."""
    rgb_net = i3d_torch.build(seed=rgb_seed)
    flow_net = i3d_torch.build(seed=flow_seed, in_channels=2)
    for name, net in (("rgb", rgb_net), ("flow", flow_net)):
        i3d_torch.save(i3d_torch.state_dict_of(net), j(name + ".pt"), "zip")
        r = subprocess.run([exe, "import", "i3d", j(name + ".pt"), "--out", j(name + ".arnet"),
                            "--level", "0"], capture_output=True, text=True)
        if r.returncode != 0:
            print("Bail out! arnet import i3d %s.pt: %s" % (name, r.stderr.strip()))
            return None
    return rgb_net, flow_net


def main():
    exe = os.environ.get("ARNET_EXE", "arnet")
    frames, origin = frames_224()
    tests = []

    def check(ok, what):
        tests.append((ok, what))

    with tempfile.TemporaryDirectory() as tmp:
        j = lambda name: os.path.join(tmp, name)  # noqa: E731
        nets = import_networks(exe, j, 21, 22)
        if not nets:
            return 1
        rgb_net, flow_net = nets
        np.save(j("frames.npy"), frames)

        def extract(out, *extra):
            cmd = [exe, "extract", "--extractor", j("rgb.arnet"), "--flow-extractor",
                   j("flow.arnet"), "--frames", j("frames.npy"), "--out", out, "--resize",
                   "none", "--threads", "2", "--quiet"] + list(extra)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))

        # The reference: OpenCV flow, PyTorch networks.
        flows = tvl1_flows(frames)
        rgb_clip = (frames[:16].astype(np.float64) * 2.0 / 255.0 - 1.0).astype(np.float32)
        ref_rgb = net_features(rgb_net, rgb_clip)
        ref_flow = net_features(flow_net, mapped(flows))
        ref = np.concatenate([ref_rgb, ref_flow])

        extract(j("two.npy"))
        got = np.load(j("two.npy"))
        check(got.shape == (1, 2048), "[T, 2048] for 17 frames: T = floor(16 / 16) = 1 (got %s)"
              % (got.shape,))
        got = got.reshape(-1)[:2048] if got.size >= 2048 else np.zeros(2048, np.float32)
        c = cosine(got, ref)
        check(c >= MIN_COSINE, "two-stream feature vs OpenCV TV-L1 + PyTorch I3D on %s: cosine "
              "%.7f, 1 - cosine %.1e (>= %g)" % (origin, c, 1 - c, MIN_COSINE))
        rgb_err = float(np.abs(got[:1024] - ref_rgb).max() / np.abs(ref_rgb).max())
        flow_err = float(np.abs(got[1024:] - ref_flow).max() / np.abs(ref_flow).max())
        # With random weights every feature has a large common part (means of
        # ReLU outputs): zero flow's features have cosine 0.9995 with these.
        # What the flow contributes is the difference from zero flow's
        # features: that part must agree too, and a wrong flow (next to
        # previous, the flows negated) must fail the same measure.
        zero = net_features(flow_net, np.zeros((16, 224, 224, 2), np.float32))
        cf = cosine(got[1024:] - zero, ref_flow - zero)
        check(cf >= MIN_COSINE and rgb_err <= 1e-3,
              "halves: RGB max difference %.2g of the largest feature; flow max difference "
              "%.2g, cosine of the flow-dependent part (features minus zero flow's) %.6f"
              % (rgb_err, flow_err, cf))
        wrong = net_features(flow_net, mapped(-flows))
        cw = cosine(wrong - zero, ref_flow - zero)
        check(cw < MIN_COSINE, "discriminates: negated flow's flow-dependent part has cosine "
              "%.6f (< %g) with the reference's" % (cw, MIN_COSINE))

        extract(j("rgb.npy"), "--split-streams", "--flow-out", j("flowpart.npy"))
        a, b = np.load(j("rgb.npy")), np.load(j("flowpart.npy"))
        whole = np.load(j("two.npy"))
        check(a.shape == (1, 1024) and b.shape == (1, 1024) and
              np.array_equal(a, whole[:, :1024]) and np.array_equal(b, whole[:, 1024:]),
              "--split-streams: [1, 1024] RGB and flow files, the halves bit for bit")

        # TV-L1 in its faster float arithmetic (exact = 0): not OpenCV's bits,
        # still the reference's features, and not those of the exact run.
        extract(j("inexact.npy"), "--flow-inexact")
        got = np.load(j("inexact.npy")).reshape(-1)
        ci = cosine(got[1024:] - zero, ref_flow - zero)
        cw = cosine(got, ref)
        check(cw >= MIN_COSINE and ci >= 0.99 and not np.array_equal(got, whole.reshape(-1)),
              "--flow-inexact vs the reference: cosine %.7f (>= %g), of the flow-dependent "
              "part %.6f (>= 0.99: a few pixels' flow moves by pixels, docs/extractor.md), "
              "not the exact run's bits" % (cw, MIN_COSINE, ci))

        extract(j("q8xx.npy"), "--flow-values", "q8", "--flow-channels", "xx")
        got = np.load(j("q8xx.npy")).reshape(-1)
        ref2 = net_features(flow_net, mapped(flows, "q8", "xx"))
        c2 = cosine(got[1024:] - zero, ref2 - zero)
        check(c2 >= MIN_COSINE and cosine(got, np.concatenate([ref_rgb, ref2])) >= MIN_COSINE,
              "AR-Net authors' recipe (--flow-values q8 --flow-channels xx) vs the reference "
              "mapped alike: cosine of the flow-dependent part %.6f" % c2)

        # Streams mixed up: refused, naming the file.
        for opt_x, opt_f, bad in ((j("flow.arnet"), j("flow.arnet"), j("flow.arnet")),
                                  (j("rgb.arnet"), j("rgb.arnet"), j("rgb.arnet"))):
            r = subprocess.run([exe, "extract", "--extractor", opt_x, "--flow-extractor", opt_f,
                                "--frames", j("frames.npy"), "--out", j("never.npy"),
                                "--quiet"], capture_output=True, text=True)
            check(r.returncode == 2 and bad in r.stderr and not os.path.exists(j("never.npy")),
                  "%s as the %s stream refused naming it (exit %d: %s)"
                  % (os.path.basename(bad), "RGB" if "flow" in bad else "flow", r.returncode,
                     r.stderr.strip()[:160]))

    print("1..%d" % len(tests))
    for i, (ok, what) in enumerate(tests, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
    return 0 if all(ok for ok, _ in tests) else 1


if __name__ == "__main__":
    sys.exit(main())
