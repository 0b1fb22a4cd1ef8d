#!/usr/bin/python3
"""bench_train_torch.py -- libarnet's AR-Net training step against PyTorch's,
side by side: the same data, shapes and settings, 1 and 2 threads
interleaved, best of several rounds, wall and CPU time per step.

    /usr/bin/python3 bench/bench_train_torch.py [--bench build/bench/bench_train]
        [--arnet build/tools/arnet] [--feature-dim 2048] [--rounds 3] [--steps 10]
        [--threads 1,2] [--busy] [--torch-blas-threads match|default]

What one step is, on both sides (read from bench/bench_train.c,
libarnet/detector/trainer.c and backward.c, and tests/reference/arnet_torch.py,
whose model, sampling and loss this script imports): draw 30 normal and 30
anomalous videos without replacement, take each one's clips (at most 300: the
synthetic videos have 13 to 112, so all of them), pack them into one n x F
batch (n about 2,700 at 30 + 30), FC(F, F) + ReLU + dropout 0.7 + FC(F, 1),
the DMIL loss with k = ceil(T / 4) per video plus 20 x the center loss of the
normal videos (per-video mean), the gradients of W1, b1, w2 and b2 (none for
the input features), and one Adam step (lr 1e-4, betas 0.9 / 0.999, eps 1e-8,
L2 weight decay 5e-4 added to the gradient).  Both hold the whole training set
in memory (libarnet's bench_train builds it with arnet_synth_create; here it is
the same data set, seed 1, written by `arnet synth` and read from its .npy
files), so reading files is not counted on either side.  Counted: the steps
only, after one warm-up step (libarnet: a new trainer each round, seed 1;
PyTorch: one model per thread count, its video picks reseeded each round), so
each side sees the same batches every round.  The two sides draw their own
videos, so their batches differ: the mean clips of PyTorch's steps and the
expected clips of a step are printed, and --steps sets how many steps a round
averages over.  The arithmetic differs where libarnet saves some: its W1
gradient skips the clips whose logit gradient is 0 (with DMIL, an anomalous
video's clips outside its top k: zero rows that add nothing), where autograd
multiplies them in; PyTorch computes no gradient for the input either.

libarnet runs as a child process (bench_train --step-ms F --threads T
--machine), PyTorch in one long-lived child process per thread count (its
BLAS, Debian's BLIS, reads its thread count from the environment once).
PyTorch gets BLIS's SKX kernels (BLIS_ARCH_TYPE, as bench_i3d_torch.py does,
unless the environment sets it) and, with --torch-blas-threads match (the
default), BLIS_NUM_THREADS equal to torch.set_num_threads, so its matrix
products use as many threads as it is given; with "default", BLIS runs
single-threaded as Debian's torch does out of the box and only torch's own
operations use the threads.  --busy runs one spinning process meanwhile, for
both sides: the loaded-machine case.  CPU time is the process's (all its
threads; spinning counts): on a shared machine the one-thread CPU times are the
figures least disturbed by other work.  The load average is printed before and
after.  Without torch and numpy it says what to install and exits 77.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def loadavg():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "unknown"


def cpu_has_skx_isa():
    try:
        flags = open("/proc/cpuinfo").read().split("\nflags")[1].split("\n")[0].split()
    except (OSError, IndexError):
        return False
    return all(f in flags for f in ("avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"))


# ---- the PyTorch side (a child process: --worker) ----------------------------------------

def worker(data_dir, threads):
    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import arnet_torch as ref

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    train = ref.read_manifest(os.path.join(data_dir, "train.txt"))
    normal = [v for v in train if v[2] == 0]
    anomalous = [v for v in train if v[2] == 1]
    f = train[0][1].shape[1]
    batch, max_clips = 30, 300
    model = ref.ARNet(f, 0.7)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=5e-4)
    mean_len = [float(np.mean([min(v[1].shape[0], max_clips) for v in vs]))
                for vs in (normal, anomalous)]

    def step(rng):
        # arnet_torch.py's training loop, one iteration.
        picked = ([normal[i] for i in rng.choice(len(normal), batch, replace=False)] +
                  [anomalous[i] for i in rng.choice(len(anomalous), batch, replace=False)])
        xs, lengths, labels = [], [], []
        for _, x, y, _ in picked:
            rows = ref.sample_rows(x.shape[0], y, max_clips, rng)
            xs.append(x[torch.from_numpy(rows)])
            lengths.append(len(rows))
            labels.append(y)
        logits = model(torch.cat(xs))
        loss, _, _ = ref.batch_loss(logits, lengths, labels, "dmil-center", 4.0, 20.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return sum(lengths)

    print("ready expected_clips=%.1f" % (batch * (mean_len[0] + mean_len[1])), flush=True)
    for line in sys.stdin:
        steps = int(line.split()[1])
        rng = np.random.default_rng(1)
        step(rng)  # warm-up
        clips = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            clips += step(rng)
        ms = (time.perf_counter() - t0) * 1e3 / steps
        cpu = (time.process_time() - c0) * 1e3 / steps
        print("step threads=%d ms=%.2f cpu_ms=%.2f clips=%.1f" % (threads, ms, cpu,
                                                                  clips / steps), flush=True)
    return 0


def fields(line):
    return dict(kv.split("=") for kv in line.split()[1:])


# ---- the driver ------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_train"))
    p.add_argument("--arnet", default=os.path.join(ROOT, "build", "tools", "arnet"))
    p.add_argument("--feature-dim", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="timed steps a round (after a warm-up)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--busy", action="store_true", help="one other spinning process meanwhile")
    p.add_argument("--torch-blas-threads", choices=["match", "default"], default="match")
    p.add_argument("--worker", nargs=2, metavar=("DATA_DIR", "THREADS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker[0], int(a.worker[1]))
    try:
        import numpy  # noqa: F401
        import torch
    except ImportError as e:
        print("bench_train_torch.py: needs numpy and torch in /usr/bin/python3 (Debian: "
              "apt-get install python3-numpy python3-torch): %s" % e)
        return 77
    if a.rounds < 1 or a.steps < 1 or not 1 <= a.feature_dim <= 65536:
        p.error("--rounds and --steps must be >= 1, --feature-dim 1..65536")
    try:
        threads = [int(t) for t in a.threads.split(",")]
    except ValueError:
        p.error("--threads wants a comma-separated list of thread counts, got %r" % a.threads)
    if not threads or min(threads) < 1 or max(threads) > 64:
        p.error("--threads: counts 1..64")
    for exe in (a.bench, a.arnet):
        if not os.access(exe, os.X_OK):
            p.error("%s is not an executable (build first: ninja -C build)" % exe)

    env = dict(os.environ)
    skx = os.path.join(os.path.dirname(a.bench), "bench_extractor")
    if "BLIS_ARCH_TYPE" not in env and cpu_has_skx_isa() and os.access(skx, os.X_OK):
        env["BLIS_ARCH_TYPE"] = subprocess.run([skx, "--blis-skx-index"], check=True,
                                               capture_output=True, text=True).stdout.strip()

    tmp = tempfile.mkdtemp(prefix="bench_train_torch_")
    workers, spinner = {}, None

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        subprocess.run([a.arnet, "synth", "--out", tmp, "--feature-dim", str(a.feature_dim),
                        "--force"], check=True, stdout=subprocess.DEVNULL)
        expected = None
        for th in threads:
            wenv = dict(env)
            if a.torch_blas_threads == "match":
                wenv["BLIS_NUM_THREADS"] = str(th)
            workers[th] = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker", tmp, str(th)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=wenv)
            ready = workers[th].stdout.readline()
            if not ready.startswith("ready"):
                raise RuntimeError("the PyTorch worker for %d threads did not start" % th)
            expected = float(fields(ready)["expected_clips"])
        print("AR-Net training step, F = hidden = %d, 30 + 30 videos, dmil-center, Adam, "
              "dropout 0.7; torch %s (BLIS_ARCH_TYPE=%s, BLIS threads %s), %d steps a round, "
              "best of %d interleaved rounds%s"
              % (a.feature_dim, torch.__version__, env.get("BLIS_ARCH_TYPE", "(unset)"),
                 "= torch threads" if a.torch_blas_threads == "match" else "1 (Debian default)",
                 a.steps, a.rounds, ", one other busy process" if a.busy else ""))
        print("expected clips a step %.0f; load average before: %s" % (expected, loadavg()))
        sys.stdout.flush()
        if a.busy:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        inf = float("inf")
        best = {th: {"ours": inf, "ours_cpu": inf, "torch": inf, "torch_cpu": inf, "clips": 0}
                for th in threads}
        for r in range(a.rounds):
            for th in threads:
                out = subprocess.run([a.bench, "--step-ms", str(a.feature_dim), "--rounds", "1",
                                      "--steps", str(a.steps), "--threads", str(th),
                                      "--machine"],
                                     check=True, capture_output=True, text=True, env=env).stdout
                ours = fields([ln for ln in out.splitlines() if ln.startswith("step ")][0])
                workers[th].stdin.write("run %d\n" % a.steps)
                workers[th].stdin.flush()
                theirs = fields(workers[th].stdout.readline())
                b = best[th]
                b["ours"] = min(b["ours"], float(ours["ms"]))
                b["ours_cpu"] = min(b["ours_cpu"], float(ours["cpu_ms"]))
                b["torch"] = min(b["torch"], float(theirs["ms"]))
                b["torch_cpu"] = min(b["torch_cpu"], float(theirs["cpu_ms"]))
                b["clips"] = float(theirs["clips"])
                print("  round %d, %d thread%s: libarnet %.0f ms (CPU %.0f), PyTorch %.0f ms "
                      "(CPU %.0f); load %s"
                      % (r + 1, th, "s" if th > 1 else "", float(ours["ms"]),
                         float(ours["cpu_ms"]), float(theirs["ms"]), float(theirs["cpu_ms"]),
                         loadavg()))
                sys.stdout.flush()
        print("load average after: %s" % loadavg())
        print("threads  libarnet ms (CPU)  PyTorch ms (CPU)  speed-up wall (CPU)  "
              "PyTorch clips/step")
        for th in threads:
            b = best[th]
            print("%7d  %8.0f (%6.0f)  %7.0f (%6.0f)  %9.2fx (%5.2fx)  %18.0f"
                  % (th, b["ours"], b["ours_cpu"], b["torch"], b["torch_cpu"],
                     b["torch"] / b["ours"], b["torch_cpu"] / b["ours_cpu"], b["clips"]))
        if len(threads) > 1:
            t0 = threads[0]
            print("libarnet at %s threads: %s the speed of %d thread%s; PyTorch: %s"
                  % (",".join(str(t) for t in threads[1:]),
                     ", ".join("%.2fx" % (best[t0]["ours"] / best[t]["ours"])
                               for t in threads[1:]),
                     t0, "s" if t0 > 1 else "",
                     ", ".join("%.2fx" % (best[t0]["torch"] / best[t]["torch"])
                               for t in threads[1:])))
        return 0
    except KeyboardInterrupt:
        print("bench_train_torch.py: interrupted", file=sys.stderr)
        return 130
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()
        for w in workers.values():
            try:
                w.stdin.close()
            except OSError:
                pass
            w.kill()
            w.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
