#!/usr/bin/python3
"""compare_flow.py -- libarnet's TV-L1 optical flow against OpenCV's
(cv2.optflow.DualTVL1OpticalFlow_create, Debian's python3-opencv) at the
same parameters: real frames (OpenCV's vtest.avi, from opencv-doc) and
synthetic frames of known motion (a shift and a rotation), both presets,
uint8 and float frames, the optional median and gamma settings.  Each case
must agree with OpenCV within a mean end-point error of 0.02 px and a 99th
percentile of 0.2 px (the spread between OpenCV's own variants); the exact
arithmetic (the default) is expected to give OpenCV's flow to the bit; the
inexact one (exact = 0) is held to the bounds with OpenCV's preset (vtest,
float frames, shift, rotation, 3 x 3 median, 1 and 2 threads) and only shown
with the CUDA preset.  Also
arnet_rgb_to_grey against cv2.cvtColor(RGB2GRAY) on every grey level sum.

    compare_flow.py          # ARNET_LIBRARY names libarnet.so (else found by ctypes)

With ARNET_EXE (the arnet program) also `arnet flow` end to end: RGB and
grey frame dumps against OpenCV, the errors users make (bad dtype or
shape, an existing output without --force, the input as output), and
Ctrl-C (SIGINT) mid-run leaving no output file.

Writes TAP; exit 0 when every case agrees (or, without numpy or cv2, after
a skip plan), 1 when one does not.  Calls the library through ctypes on its
public functions only.  Sizes are small (160 x 120, one 224 x 224 pair) to
keep the run to seconds.
"""
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import cv2
    cv2.optflow.DualTVL1OpticalFlow_create
except (ImportError, AttributeError) as e:  # pragma: no cover
    print("1..0 # SKIP /usr/bin/python3 lacks numpy or cv2.optflow (python3-opencv): %s" % e)
    sys.exit(0)

MEAN_EPE = 0.02
P99_EPE = 0.2
VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


class Options(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t),
                ("tau", ctypes.c_float), ("lambda_", ctypes.c_float),
                ("theta", ctypes.c_float), ("epsilon", ctypes.c_float),
                ("scale_step", ctypes.c_float), ("gamma", ctypes.c_float),
                ("scales", ctypes.c_uint32), ("warps", ctypes.c_uint32),
                ("inner_iterations", ctypes.c_uint32), ("outer_iterations", ctypes.c_uint32),
                ("median_filtering", ctypes.c_int), ("threads", ctypes.c_int),
                ("exact", ctypes.c_int)]


def library():
    path = os.environ.get("ARNET_LIBRARY") or ctypes.util.find_library("arnet")
    lib = ctypes.CDLL(path)
    vp = ctypes.c_void_p
    lib.arnet_flow_options_init.argtypes = [ctypes.POINTER(Options)]
    lib.arnet_flow_options_preset.argtypes = [ctypes.POINTER(Options), ctypes.c_int]
    lib.arnet_flow_create.argtypes = [ctypes.c_uint32, ctypes.c_uint32,
                                      ctypes.POINTER(Options), ctypes.POINTER(vp)]
    lib.arnet_flow_compute.argtypes = [vp, vp, ctypes.c_size_t, vp, ctypes.c_size_t, vp]
    lib.arnet_flow_compute_f32.argtypes = [vp, vp, ctypes.c_size_t, vp, ctypes.c_size_t, vp]
    lib.arnet_flow_free.argtypes = [vp]
    lib.arnet_rgb_to_grey.argtypes = [vp, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint32, vp]
    lib.arnet_last_error.restype = ctypes.c_char_p
    return lib


def ours(lib, a, b, preset=0, threads=1, **kw):
    o = Options()
    lib.arnet_flow_options_init(ctypes.byref(o))
    if lib.arnet_flow_options_preset(ctypes.byref(o), preset) != 0:
        raise RuntimeError(lib.arnet_last_error().decode())
    o.threads = threads
    for k, v in kw.items():
        setattr(o, k, v)
    h, w = a.shape
    f = ctypes.c_void_p()
    if lib.arnet_flow_create(w, h, ctypes.byref(o), ctypes.byref(f)) != 0:
        raise RuntimeError(lib.arnet_last_error().decode())
    out = np.zeros((h, w, 2), np.float32)
    fn = lib.arnet_flow_compute_f32 if a.dtype == np.float32 else lib.arnet_flow_compute
    rc = fn(f, a.ctypes.data, w, b.ctypes.data, w, out.ctypes.data)
    lib.arnet_flow_free(f)
    if rc != 0:
        raise RuntimeError(lib.arnet_last_error().decode())
    return out


def opencv(a, b, preset=0, **kw):
    kw.pop("exact", None)
    args = dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01,
                innnerIterations=30, outerIterations=10, scaleStep=0.8, gamma=0.0,
                medianFiltering=5)
    if preset == 1:
        args.update(innnerIterations=300, outerIterations=1, medianFiltering=1)
    names = {"median_filtering": "medianFiltering", "inner_iterations": "innnerIterations",
             "outer_iterations": "outerIterations", "gamma": "gamma"}
    for k, v in kw.items():
        args[names[k]] = v
    tv = cv2.optflow.DualTVL1OpticalFlow_create(**args)
    return tv.calc(a, b, None)


def epe(x, y):
    e = np.sqrt(((x.astype(np.float64) - y) ** 2).sum(-1))
    return e.mean(), np.percentile(e, 99), e.max()


def shifted(w, h, dx, dy, angle=0.0):
    """A smooth random texture and the same moved by (dx, dy) and rotated by
    angle degrees about the centre: frame 2 sampled at the inverse motion
    (bicubic, from a 4x supersampled texture to keep it sharp)."""
    rng = np.random.default_rng(5)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h * 4, w * 4)).astype(np.float32), (0, 0), 6)
    big = cv2.normalize(big, None, 20, 235, cv2.NORM_MINMAX)
    a = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    c = np.array([w / 2.0, h / 2.0])
    t = np.deg2rad(angle)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    p = np.stack([xx, yy], -1)
    # b(q) = a(Rinv (q - c - d) + c): the point p of a moves to R(p - c) + c + d
    q = (p - c - [dx, dy]) @ R + c
    mx = ((q[..., 0] + 0.5) * 4 - 0.5).astype(np.float32)
    my = ((q[..., 1] + 0.5) * 4 - 0.5).astype(np.float32)
    b = cv2.remap(big, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    truth = (p - c) @ R.T + c + [dx, dy] - p
    return (np.clip(np.rint(a), 0, 255).astype(np.uint8),
            np.clip(np.rint(b), 0, 255).astype(np.uint8), truth)


def cli_checks(exe, frames_rgb):
    """(name, ok, detail) of each check of the arnet flow command."""
    out = []
    with tempfile.TemporaryDirectory() as d:
        fr = os.path.join(d, "frames.npy")
        np.save(fr, frames_rgb)
        grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames_rgb])
        fg = os.path.join(d, "grey.npy")
        np.save(fg, grey)
        ref = np.stack([opencv(grey[i], grey[i + 1]) for i in range(len(grey) - 1)])
        for name, src, extra in (("RGB frames", fr, []), ("grey frames, 2 threads", fg,
                                                           ["--threads", "2"])):
            o = os.path.join(d, "flow_%d.npy" % len(out))
            r = subprocess.run([exe, "flow", "--frames", src, "--out", o, "--quiet"] + extra,
                               capture_output=True, text=True)
            ok = r.returncode == 0 and os.path.exists(o)
            detail = r.stderr.strip()[-200:]
            if ok:
                got = np.load(o)
                ok = got.shape == ref.shape and got.dtype == np.float32
                if ok:
                    m, p99, _ = epe(got, ref)
                    ok = m <= MEAN_EPE and p99 <= P99_EPE
                    detail = "shape %s, mean EPE %.5f, 99th percentile %.4f" % (
                        got.shape, m, p99)
            out.append(("arnet flow on %s equals OpenCV" % name, ok, detail))
        # Errors users make: each exits 1 or 2 with a message naming the problem.
        bad = os.path.join(d, "bad.npy")
        np.save(bad, np.zeros((3, 8, 8, 3), np.float32))
        one = os.path.join(d, "one.npy")
        np.save(one, np.zeros((1, 8, 8), np.uint8))
        four = os.path.join(d, "four.npy")
        np.save(four, np.zeros((3, 8, 8, 4), np.uint8))
        exists = os.path.join(d, "exists.npy")
        open(exists, "w").write("keep")
        cases = [
            ("float frames refused", [bad, os.path.join(d, "o1.npy")], "uint8"),
            ("one frame refused", [one, os.path.join(d, "o2.npy")], "at least 2 frames"),
            ("4 channels refused", [four, os.path.join(d, "o3.npy")], "last dimension not 3"),
            ("missing file named", [os.path.join(d, "nope.npy"), os.path.join(d, "o4.npy")],
             "nope.npy"),
            ("existing output needs --force", [fg, exists], "--force"),
            ("the input as output refused", [fg, fg], "--frames"),
        ]
        for name, (src, dst), want in cases:
            r = subprocess.run([exe, "flow", "--frames", src, "--out", dst, "--quiet"],
                               capture_output=True, text=True)
            ok = r.returncode in (1, 2) and want in r.stderr
            if dst == exists:
                ok = ok and open(exists).read() == "keep"
            out.append(("arnet flow: " + name, ok, r.stderr.strip()[-200:]))
        r = subprocess.run([exe, "flow", "--frames", fg, "--out", os.path.join(d, "x.npy"),
                            "--preset", "gpu"], capture_output=True, text=True)
        out.append(("arnet flow: --preset gpu refused", r.returncode == 2 and "gpu" in r.stderr,
                    r.stderr.strip()[-200:]))
        # Ctrl-C: many large pairs, interrupted after a moment; no file appears.
        long = os.path.join(d, "long.npy")
        rng = np.random.default_rng(3)
        np.save(long, rng.integers(0, 256, (40, 240, 320), dtype=np.uint8))
        o = os.path.join(d, "long_flow.npy")
        p = subprocess.Popen([exe, "flow", "--frames", long, "--out", o, "--preset", "cuda",
                              "--quiet"], stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        t0 = time.time()
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        took = time.time() - t0
        left = [f for f in os.listdir(d) if f.startswith("long_flow")]
        ok = p.returncode == 130 and not left and "interrupted" in err and took < 10
        out.append(("arnet flow: SIGINT stops it (exit %s in %.1f s), no output or temporary "
                    "left" % (p.returncode, took), ok, err.strip()[-200:]))
    return out


def main():
    lib = library()
    cases = []  # (name, prev, next, preset, kw)
    info = []  # the same, reported but not held to the bounds (see below)
    if os.path.exists(VTEST):
        cap = cv2.VideoCapture(VTEST)
        frames = []
        for _ in range(6):
            ok, im = cap.read()
            if not ok:
                break
            frames.append(im)
        if len(frames) == 6:
            g = [cv2.cvtColor(cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA),
                              cv2.COLOR_BGR2GRAY) for f in frames]
            g224 = [cv2.cvtColor(cv2.resize(f, (224, 224), interpolation=cv2.INTER_AREA),
                                 cv2.COLOR_BGR2GRAY) for f in frames]
            # frames 0 -> 5: people walking, a few pixels of motion
            cases.append(("vtest 160x120 frames 0->5", g[0], g[5], 0, {}))
            cases.append(("vtest 160x120 frames 1->3", g[1], g[3], 0, {}))
            cases.append(("vtest 160x120 frames 0->5, cuda preset", g[0], g[5], 1, {}))
            cases.append(("vtest 224x224 frames 0->4, 2 threads", g224[0], g224[4], 0,
                          {"threads": 2}))
            f0 = g[0].astype(np.float32) / 255
            f5 = g[5].astype(np.float32) / 255
            cases.append(("vtest 160x120 float frames", f0, f5, 0, {}))
            # exact = 0: float arithmetic of our own, not OpenCV's bits
            cases.append(("vtest 160x120 frames 0->5, inexact", g[0], g[5], 0, {"exact": 0}))
            cases.append(("vtest 160x120 frames 1->3, inexact", g[1], g[3], 0, {"exact": 0}))
            cases.append(("vtest 160x120 float frames, inexact", f0, f5, 0, {"exact": 0}))
            cases.append(("vtest 224x224 frames 0->4, inexact, 2 threads", g224[0], g224[4], 0,
                          {"exact": 0, "threads": 2}))
            cases.append(("vtest 224x224 frames 0->4, inexact", g224[0], g224[4], 0,
                          {"exact": 0}))
            info.append(("vtest 160x120 frames 0->5, inexact, cuda preset", g[0], g[5], 1,
                         {"exact": 0}))
            info.append(("vtest 224x224 frames 2->5, inexact, cuda preset", g224[2], g224[5], 1,
                         {"exact": 0}))
    else:
        print("# SKIP vtest cases: %s missing (Debian package opencv-doc)" % VTEST)
    a, b, shift_truth = shifted(112, 112, 2.3, -1.4)
    cases.append(("shift (2.3, -1.4) 112x112", a, b, 0, {}))
    ra, rb, rot_truth = shifted(112, 112, 0.0, 0.0, angle=3.0)
    cases.append(("rotation 3 degrees 112x112", ra, rb, 0, {}))
    cases.append(("rotation 3 degrees, cuda preset, 2 threads", ra, rb, 1, {"threads": 2}))
    sa, sb, _ = shifted(64, 48, 1.0, 0.5)
    cases.append(("shift (2.3, -1.4) 112x112, inexact", a, b, 0, {"exact": 0}))
    cases.append(("rotation 3 degrees 112x112, inexact", ra, rb, 0, {"exact": 0}))
    info.append(("rotation 3 degrees, inexact, cuda preset, 2 threads", ra, rb, 1,
                 {"exact": 0, "threads": 2}))
    cases.append(("shift 64x48, median 3", sa, sb, 0, {"median_filtering": 3}))
    cases.append(("shift 64x48, median 3, inexact", sa, sb, 0, {"median_filtering": 3,
                                                                 "exact": 0}))
    cases.append(("shift 64x48, gamma 0.2", sa, sb, 0, {"gamma": 0.2}))
    exe = os.environ.get("ARNET_EXE")
    n_cli = 10 if exe else 0
    n_walk = 1 if os.path.exists(VTEST) else 0  # the walking pairs' check below
    print("1..%d" % (len(cases) + n_walk + 1 + n_cli))
    failed = 0
    for i, (name, p, n, preset, kw) in enumerate(cases, 1):
        threads = kw.pop("threads", 1)
        ref = opencv(p, n, preset, **kw)
        got = ours(lib, p, n, preset, threads, **kw)
        m, p99, mx = epe(got, ref)
        ok = m <= MEAN_EPE and p99 <= P99_EPE and np.isfinite(got).all()
        extra = ""
        if name.startswith("shift (2.3"):
            extra = "; to the true motion: ours %.3f, OpenCV %.3f" % (
                epe(got, shift_truth)[0], epe(ref, shift_truth)[0])
        if name.startswith("rotation 3 degrees 112"):
            extra = "; to the true motion: ours %.3f, OpenCV %.3f" % (
                epe(got, rot_truth)[0], epe(ref, rot_truth)[0])
        print("%s %d - %s: mean EPE %.5f px, 99th percentile %.4f px, max %.2g px "
              "(OpenCV's |flow| mean %.2f px)%s" % ("ok" if ok else "not ok", i, name, m, p99, mx,
                              np.sqrt((ref ** 2).sum(-1)).mean(), extra))
        failed += not ok
    # exact = 0 with the CUDA preset (300 iterations a warp, no median): its
    # last-bit differences from OpenCV grow further over the iterations, and
    # which pixels jump depends on those bits, so the bounds hold in some
    # cases and not in others (docs/extractor.md); shown, not held.
    for name, p, n, preset, kw in info:
        threads = kw.pop("threads", 1)
        m, p99, mx = epe(ours(lib, p, n, preset, threads, **kw), opencv(p, n, preset, **kw))
        print("# %s (not held to the bounds): mean EPE %.5f px, 99th percentile %.4f px, "
              "max %.2g px" % (name, m, p99, mx))
    # exact = 0 on harder real pairs (people walking across a 224 x 224
    # window of vtest.avi): measured against OpenCV's own spread -- OpenCV
    # given the same frames with each pixel of the second nudged by one unit
    # in the last place (float frames), which any other build of it (FMA,
    # another compiler) would also do to its arithmetic.  Ours must stay
    # within that spread on average over the pairs.
    if n_walk:
        cap = cv2.VideoCapture(VTEST)
        win = []
        for i in range(107):
            ok, im = cap.read()
            if ok and i >= 100:
                win.append(cv2.cvtColor(im[200:424, 300:524], cv2.COLOR_BGR2GRAY))
        rng = np.random.default_rng(3)
        ours_m, ours_p, cv_m, cv_p = [], [], [], []
        for k in range(len(win) - 1):
            a32 = win[k].astype(np.float32) / 255
            b32 = win[k + 1].astype(np.float32) / 255
            ref = opencv(a32, b32)
            away = np.where(rng.random(b32.shape) < 0.5, 2, -1).astype(np.float32)
            m, p99, _ = epe(opencv(a32, np.nextafter(b32, away)), ref)
            cv_m.append(m)
            cv_p.append(p99)
            m, p99, _ = epe(ours(lib, win[k], win[k + 1], 0, 1, exact=0), ref)
            ours_m.append(m)
            ours_p.append(p99)
        n_real = len(ours_m)
        ok = n_real > 0 and np.mean(ours_m) <= np.mean(cv_m) and np.mean(ours_p) <= np.mean(cv_p)
        print("%s %d - inexact on %d vtest pairs with people walking: mean EPE %.4f px, 99th "
              "percentile %.3f px on average (pairs: mean %s); OpenCV against itself with the "
              "input nudged by one ulp: %.4f px, %.3f px (mean %s)" % (
                  "ok" if ok else "not ok", len(cases) + 1, n_real, np.mean(ours_m),
                  np.mean(ours_p), " ".join("%.3f" % v for v in ours_m), np.mean(cv_m),
                  np.mean(cv_p), " ".join("%.3f" % v for v in cv_m)))
        failed += not ok
    # Grey: every (R, G, B) on a lattice plus random colours.
    rng = np.random.default_rng(1)
    lat = np.stack(np.meshgrid(np.arange(0, 256, 3), np.arange(0, 256, 5),
                               np.arange(0, 256, 7), indexing="ij"), -1).reshape(-1, 3)
    rgb = np.concatenate([lat, rng.integers(0, 256, (200000, 3))]).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb.reshape(1, -1, 3))
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).reshape(-1)
    grey = np.zeros(rgb.shape[1], np.uint8)
    rc = lib.arnet_rgb_to_grey(rgb.ctypes.data, rgb.shape[1] * 3, rgb.shape[1], 1,
                               grey.ctypes.data)
    same = rc == 0 and (grey == ref).all()
    n = len(cases) + n_walk + 1
    print("%s %d - arnet_rgb_to_grey equals cv2 RGB2GRAY on %d colours" % (
        "ok" if same else "not ok", n, rgb.shape[1]))
    failed += not same
    if exe:
        rng = np.random.default_rng(2)
        if os.path.exists(VTEST):
            cap = cv2.VideoCapture(VTEST)
            rgb = [cv2.cvtColor(cv2.resize(cap.read()[1], (96, 72), interpolation=cv2.INTER_AREA),
                                cv2.COLOR_BGR2RGB) for _ in range(4)]
            frames = np.stack(rgb)
        else:
            a, b, _ = shifted(96, 72, 1.5, 0.5)
            frames = np.stack([np.stack([a] * 3, -1), np.stack([b] * 3, -1),
                               np.stack([a] * 3, -1)])
        checks = cli_checks(exe, frames)
        assert len(checks) == n_cli, len(checks)
        for j, (name, ok, detail) in enumerate(checks, n + 1):
            print("%s %d - %s" % ("ok" if ok else "not ok", j, name))
            if detail:
                print("# " + detail.replace("\n", "\n# "))
            failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
