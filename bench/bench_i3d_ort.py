#!/usr/bin/python3
"""bench_i3d_ort.py -- libarnet's I3D extractor against ONNX Runtime (CPU) on
the reference I3D of tests/reference/i3d_torch.py exported by torch.onnx.export:
same weights, same 16 x 224 x 224 clip, interleaved at 1 and 2 threads, best
of several rounds.

    /usr/bin/python3 bench/bench_i3d_ort.py --ort DIR [--bench build/bench/bench_extractor]
        [--rounds 3] [--threads 1,2] [--frames 16] [--size 224]

DIR is the unpacked npm package onnxruntime-node 1.30.0 with onnxruntime-common
1.30.0 in its node_modules (docs/extractor.md, "Measured", says how to get it);
the environment variable ARNET_ORT_NODE may name it instead of --ort.  ONNX
Runtime runs in Debian's node (bench/ort_i3d.js, a child process that keeps
one session per thread count); ours runs in bench_extractor --machine, which
also measures the machine's sgemm rate at the same thread count.  Without
node, ONNX Runtime or torch this prints what to install and exits with 77
(skipped); nothing is downloaded.

Before timing, the ONNX Runtime features of the clip are compared with
PyTorch's (the exported graph is the reference network) and libarnet's.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOWTO = ("get ONNX Runtime 1.30 for node: mkdir /opt/ort && cd /opt/ort && "
         "npm pack onnxruntime-node@1.30.0 onnxruntime-common@1.30.0 && tar xzf onnxruntime-node-1.30.0.tgz && "
         "mkdir -p package/node_modules/onnxruntime-common && tar xzf onnxruntime-common-1.30.0.tgz "
         "-C package/node_modules/onnxruntime-common --strip-components=1; then pass --ort /opt/ort/package "
         "(node: apt-get install nodejs)")


def skip(msg):
    print("bench_i3d_ort.py: skipped: %s" % msg)
    return 77


def cpu_has_skx_isa():
    try:
        flags = open("/proc/cpuinfo").read().split("\nflags")[1].split("\n")[0].split()
    except (OSError, IndexError):
        return False
    return all(f in flags for f in ("avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"))


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


class Ort:
    def __init__(self, pkg, model, clip, dims):
        self.p = subprocess.Popen(["node", os.path.join(HERE, "ort_i3d.js"), pkg, model, clip]
                                  + [str(d) for d in dims], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        if not r or r.startswith("error"):
            raise RuntimeError("ort_i3d.js: %s" % (r or "no answer (did node crash?)"))
        return r

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def run_ours(exe, weights, threads, frames, size, precision, reps=1, extra=()):
    out = subprocess.run([exe, "--weights", weights, "--threads", str(threads), "--reps", str(reps),
                          "--frames", str(frames), "--size", str(size),
                          "--machine"] + list(extra), check=True, capture_output=True, text=True).stdout
    return fields(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ort", default=os.environ.get("ARNET_ORT_NODE"),
                   help="the unpacked onnxruntime-node package (or $ARNET_ORT_NODE)")
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_extractor"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    precisions = ["fp32"]  # the only one (docs/extractor.md, "bf16: measured, not added")

    if not a.ort:
        return skip("no ONNX Runtime given (--ort DIR or ARNET_ORT_NODE); " + HOWTO)
    if not os.path.isfile(os.path.join(a.ort, "package.json")):
        return skip("%s is not an unpacked onnxruntime-node package; %s" % (a.ort, HOWTO))
    if not shutil.which("node"):
        return skip("node is not installed (apt-get install nodejs)")
    if not os.access(a.bench, os.X_OK):
        return skip("%s is not built (ninja -C build)" % a.bench)
    if "BLIS_ARCH_TYPE" not in os.environ and cpu_has_skx_isa():
        idx = subprocess.run([a.bench, "--blis-skx-index"], check=True, capture_output=True,
                             text=True).stdout.strip()
        os.environ["BLIS_ARCH_TYPE"] = idx
    try:
        import numpy as np
        import torch
    except ImportError as e:
        return skip("needs numpy and torch for /usr/bin/python3 (python3-numpy, python3-torch): %s" % e)
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import i3d_torch

    tmp = tempfile.mkdtemp(prefix="bench_i3d_ort_")
    try:
        net = i3d_torch.build(seed=0)
        weights = os.path.join(tmp, "i3d.pt")
        torch.save(net.state_dict(), weights)
        g = torch.Generator().manual_seed(7)
        x = torch.rand(1, 3, a.frames, a.size, a.size, generator=g) * 2 - 1
        model = os.path.join(tmp, "i3d.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, x, model, input_names=["clip"], output_names=["feature"],
                              opset_version=13)
        clip = os.path.join(tmp, "clip.f32")
        x.numpy().astype(np.float32).tofile(clip)
        torch.set_num_threads(max(threads))
        with torch.no_grad():
            ref = net(x)[0].numpy()

        ort = Ort(a.ort, model, clip, (a.frames, a.size, a.size))
        version = ort.ask("version")
        feat = os.path.join(tmp, "ort.f32")
        ort.ask("feature %d %s" % (max(threads), feat))
        err = np.abs(np.fromfile(feat, dtype=np.float32) - ref).max() / np.abs(ref).max()
        # libarnet's features of the same clip, channels last
        clip_cl = os.path.join(tmp, "clip_cl.f32")
        x[0].permute(1, 2, 3, 0).contiguous().numpy().tofile(clip_cl)
        ours_err = {}
        for prec in precisions:
            out = os.path.join(tmp, "ours_%s.f32" % prec)
            run_ours(a.bench, weights, max(threads), a.frames, a.size, prec, 1,
                     ["--no-sgemm", "--clip", clip_cl, "--features", out])
            ours_err[prec] = np.abs(np.fromfile(out, dtype=np.float32) - ref).max() / np.abs(ref).max()
        print("I3D, %d x %d x %d clip, 55.6 GFLOP at 16 x 224 x 224; %s, torch %s, BLIS_ARCH_TYPE=%s; "
              "best of %d interleaved rounds" % (a.frames, a.size, a.size, version, torch.__version__,
                                                 os.environ.get("BLIS_ARCH_TYPE", "(unset)"), a.rounds))
        print("largest feature difference from PyTorch's, relative to its largest feature: "
              "ONNX Runtime %.1e, %s" % (err, ", ".join("libarnet %s %.1e" % (k, v)
                                                     for k, v in ours_err.items())))
        print("load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        sys.stdout.flush()
        inf = float("inf")
        best = {}
        for r in range(a.rounds):
            for th in threads:
                b = best.setdefault(th, {"ort": inf, "ort_cpu": inf, "sgemm": 0.0, "flops": 0.0})
                res = []
                for prec in precisions:
                    f = run_ours(a.bench, weights, th, a.frames, a.size, prec)
                    ms, cpu = float(f["ms"]), float(f["cpu_ms"])
                    b[prec] = min(b.get(prec, inf), ms)
                    b[prec + "_cpu"] = min(b.get(prec + "_cpu", inf), cpu)
                    b["sgemm"] = max(b["sgemm"], float(f["sgemm"]))
                    b["flops"] = float(f["gflops"]) * ms  # GFLOP/s x ms = MFLOP
                    res.append("libarnet %s %.0f ms (CPU %.0f)" % (prec, ms, cpu))
                o = fields(ort.ask("run %d" % th))
                b["ort"] = min(b["ort"], float(o["ms"]))
                b["ort_cpu"] = min(b["ort_cpu"], float(o["cpu_ms"]))
                print("  round %d, %d thread%s: %s, ONNX Runtime %.0f ms (CPU %.0f)"
                      % (r + 1, th, "s" if th > 1 else "", ", ".join(res), float(o["ms"]),
                         float(o["cpu_ms"])))
                sys.stdout.flush()
        ort.close()
        print("load average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print("threads  precision  libarnet ms (CPU)  ONNX Runtime ms (CPU)  speed-up (CPU)  "
              "libarnet GFLOP/s  ORT GFLOP/s  sgemm GFLOP/s  fraction libarnet  fraction ORT")
        for th in threads:
            b = best[th]
            gflop = b["flops"] * 1e-3
            for prec in precisions:
                ours, ort_ms = b[prec], b["ort"]
                print("%7d  %9s  %8.0f (%6.0f)  %12.0f (%6.0f)  %5.2fx (%5.2fx)  %16.1f  %11.1f  %13.1f  %17.2f  %12.2f"
                      % (th, prec, ours, b[prec + "_cpu"], ort_ms, b["ort_cpu"], ort_ms / ours,
                         b["ort_cpu"] / b[prec + "_cpu"], gflop / ours * 1e3, gflop / ort_ms * 1e3,
                         b["sgemm"], gflop / ours * 1e3 / b["sgemm"],
                         gflop / ort_ms * 1e3 / b["sgemm"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
