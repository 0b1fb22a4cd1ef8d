#!/usr/bin/python3
"""bench_flow_cv.py -- OpenCV's side of bench_flow: started by bench_flow as
a coprocess, it writes the frames both sides time (OpenCV's vtest.avi from
opencv-doc, grey, resized to the asked size; a synthetic moving texture
when the video is missing) and then times cv2.optflow's DualTVL1 on them
when asked, so that the two are measured interleaved on the same frames.

Protocol (one line each way):
    argv: DIR WIDTH HEIGHT PAIRS
    -> "ready SOURCE"            after DIR/frames.npy ([PAIRS + 1, H, W] uint8) is written
    <- "run THREADS PRESET"      (PRESET 0 opencv, 1 cuda)
    -> "ms MS CPU_MS"            wall and process CPU time of calc over the pairs / pairs
    <- "quit"
"""
import os
import sys
import time

import numpy as np

try:
    import cv2
    cv2.optflow.DualTVL1OpticalFlow_create
except Exception as e:  # noqa: BLE001
    print("error %s" % str(e).replace("\n", " "), flush=True)
    sys.exit(0)

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def frames(w, h, n):
    if os.path.exists(VTEST):
        cap = cv2.VideoCapture(VTEST)
        out = []
        for _ in range(n):
            ok, im = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA),
                                    cv2.COLOR_BGR2GRAY))
        if len(out) == n:
            return np.stack(out), "vtest.avi"
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + 64, w + 64)).astype(np.float32), (0, 0), 3)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.stack([big[i:i + h, 2 * i:2 * i + w] for i in range(n)]), "synthetic"


def main():
    d, w, h, pairs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    f, source = frames(w, h, pairs + 1)
    np.save(os.path.join(d, "frames.npy"), f)
    print("ready %s" % source, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        threads, preset = int(words[1]), int(words[2])
        cv2.setNumThreads(threads)
        tv = cv2.optflow.DualTVL1OpticalFlow_create()
        if preset == 1:
            tv.setInnerIterations(300)
            tv.setOuterIterations(1)
            tv.setMedianFiltering(1)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(pairs):
            tv.calc(f[i], f[i + 1], None)
        ms = (time.perf_counter() - t0) * 1000.0 / pairs
        cms = (time.process_time() - c0) * 1000.0 / pairs
        print("ms %.3f %.3f" % (ms, cms), flush=True)


if __name__ == "__main__":
    main()
