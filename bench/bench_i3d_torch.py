#!/usr/bin/python3
"""bench_i3d_torch.py -- libarnet's I3D extractor against the reference PyTorch
I3D (tests/reference/i3d_torch.py), same weights, same 16 x 224 x 224 clip,
interleaved in one session at 1 and 2 threads, best of several rounds.

    /usr/bin/python3 bench/bench_i3d_torch.py [--bench build/bench/bench_extractor]
        [--rounds 3] [--threads 1,2] [--frames 16] [--size 224] [--blas]

PyTorch gets the fast BLIS kernels too: BLIS_ARCH_TYPE is set to the SKX
kernels (docs/blis.md) before torch loads the system BLIS, unless the
environment already sets it.  PyTorch is timed as it runs by default (its
convolutions go to the oneDNN it was built with) and, with --blas, also with
oneDNN turned off (torch.backends.mkldnn.enabled = False: im2col + the
system BLIS; much slower).  Ours runs in a child process (bench_extractor
--machine), which also measures the machine's sgemm rate at the same thread
count.  Wall time and process CPU time are both reported: on a machine
shared with other work, the one-thread CPU times are the comparison least
disturbed by it (with two threads, CPU time counts spinning too).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def cpu_has_skx_isa():
    try:
        flags = open("/proc/cpuinfo").read().split("\nflags")[1].split("\n")[0].split()
    except (OSError, IndexError):
        return False
    return all(f in flags for f in ("avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"))


def run_ours(exe, weights, threads, frames, size):
    out = subprocess.run([exe, "--weights", weights, "--threads", str(threads), "--reps", "1",
                          "--frames", str(frames), "--size", str(size), "--machine"],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=") for kv in out.split()[1:])
    return (float(fields["ms"]), float(fields["cpu_ms"]), float(fields["gflops"]),
            float(fields["sgemm"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_extractor"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--blas", action="store_true", help="also time PyTorch without oneDNN")
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]

    if "BLIS_ARCH_TYPE" not in os.environ and cpu_has_skx_isa():
        idx = subprocess.run([a.bench, "--blis-skx-index"], check=True, capture_output=True,
                             text=True).stdout.strip()
        os.environ["BLIS_ARCH_TYPE"] = idx
    try:
        import numpy as np  # noqa: F401
        import torch
    except ImportError as e:
        print("bench_i3d_torch.py: needs numpy and torch (/usr/bin/python3): %s" % e)
        return 77
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import i3d_torch

    net = i3d_torch.build(seed=0)
    tmp = tempfile.mkdtemp(prefix="bench_i3d_")
    weights = os.path.join(tmp, "i3d.pt")
    torch.save(net.state_dict(), weights)
    x = torch.rand(1, 3, a.frames, a.size, a.size) * 2 - 1

    def time_torch(n_threads, mkldnn):
        torch.set_num_threads(n_threads)
        torch.backends.mkldnn.enabled = mkldnn
        with torch.no_grad():
            t0, c0 = time.perf_counter(), time.process_time()
            net(x)
            return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3

    print("I3D, %d x %d x %d clip, BLIS_ARCH_TYPE=%s, torch %s, best of %d interleaved rounds"
          % (a.frames, a.size, a.size, os.environ.get("BLIS_ARCH_TYPE", "(unset)"),
             torch.__version__, a.rounds))
    for th in threads:  # warm-up passes (allocator, oneDNN primitive caches)
        time_torch(th, True)
        if a.blas:
            time_torch(th, False)
    best = {}
    inf = float("inf")
    for r in range(a.rounds):
        for th in threads:
            ms, cpu, gf, sg = run_ours(a.bench, weights, th, a.frames, a.size)
            t_on, c_on = time_torch(th, True)
            t_off = time_torch(th, False)[0] if a.blas else inf
            b = best.setdefault(th, {"ours": inf, "ours_cpu": inf, "gflops": 0, "sgemm": 0,
                                     "torch": inf, "torch_cpu": inf, "torch_blas": inf})
            b["ours"] = min(b["ours"], ms)
            b["ours_cpu"] = min(b["ours_cpu"], cpu)
            b["gflops"] = max(b["gflops"], gf)
            b["sgemm"] = max(b["sgemm"], sg)
            b["torch"] = min(b["torch"], t_on)
            b["torch_cpu"] = min(b["torch_cpu"], c_on)
            b["torch_blas"] = min(b["torch_blas"], t_off)
            print("  round %d, %d thread%s: libarnet %.0f ms (CPU %.0f), PyTorch %.0f ms (CPU %.0f)%s"
                  % (r + 1, th, "s" if th > 1 else "", ms, cpu, t_on, c_on,
                     ", without oneDNN %.0f ms" % t_off if a.blas else ""))
            sys.stdout.flush()
    print("threads  libarnet ms (CPU)  PyTorch ms (CPU)  speed-up (CPU)  libarnet GFLOP/s  "
          "sgemm GFLOP/s  fraction%s" % ("  PyTorch w/o oneDNN ms" if a.blas else ""))
    for th in threads:
        b = best[th]
        print("%7d  %8.0f (%6.0f)  %7.0f (%6.0f)  %5.2fx (%5.2fx)  %16.1f  %13.1f  %8.2f%s"
              % (th, b["ours"], b["ours_cpu"], b["torch"], b["torch_cpu"],
                 b["torch"] / b["ours"], b["torch_cpu"] / b["ours_cpu"], b["gflops"], b["sgemm"],
                 b["gflops"] / b["sgemm"], "  %21.0f" % b["torch_blas"] if a.blas else ""))
    os.remove(weights)
    os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
