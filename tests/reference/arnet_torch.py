#!/usr/bin/python3
"""arnet_torch.py -- an independent PyTorch implementation of AR-Net, written
from docs (the paper and docs/method.md), not from libarnet's C code, to check that
libarnet's training reaches the same quality on the same data.

It reads libarnet manifests (`<features.npy> <label> [<frame gt .npy>]`, paths
relative to the manifest), trains with the paper's settings and evaluates
with the paper's protocol (clip score to its 16 frames, ground truth truncated
to 16*T, scikit-learn's roc_auc_score, FAR = normal-video frames >= 0.5).

    /usr/bin/python3 tests/reference/arnet_torch.py --train DIR/train.txt \\
        --test DIR/test.txt [--loss dmil-center|dmil|kmax-mil] [--seed S] \\
        [--iterations 4760] [--eval-every 1000] [--json]

Needs torch, numpy and scikit-learn (Debian: python3-torch python3-numpy
python3-sklearn).  Not part of the test suite: a run takes minutes.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score


def read_manifest(path):
    base = os.path.dirname(os.path.abspath(path))
    videos = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            feats = np.load(os.path.join(base, parts[0])).astype(np.float32)
            if feats.ndim == 3:
                feats = feats.mean(axis=1)
            gt = None
            if len(parts) > 2 and parts[2] != "-":
                gt = np.load(os.path.join(base, parts[2])).astype(np.uint8).ravel()
            videos.append((parts[0], torch.from_numpy(feats), int(parts[1]), gt))
    return videos


class ARNet(torch.nn.Module):
    """Eq. 1-2: FC(F, F) + ReLU + dropout 0.7, FC(F, 1) + sigmoid (logits here)."""

    def __init__(self, f, dropout=0.7):
        super().__init__()
        self.fc1 = torch.nn.Linear(f, f)
        self.fc2 = torch.nn.Linear(f, 1)
        self.drop = torch.nn.Dropout(dropout)
        for fc in (self.fc1, self.fc2):
            torch.nn.init.xavier_uniform_(fc.weight)
            torch.nn.init.zeros_(fc.bias)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(x)))).squeeze(-1)


def sample_rows(t, label, max_clips, rng):
    """docs/method.md: anomalous videos longer than max_clips get one random clip
    from each of max_clips equal bins; normal ones a random window."""
    if t <= max_clips:
        return np.arange(t)
    if label:
        edges = np.linspace(0, t, max_clips + 1).astype(np.int64)
        return rng.integers(edges[:-1], np.maximum(edges[1:], edges[:-1] + 1))
    start = rng.integers(0, t - max_clips + 1)
    return np.arange(start, start + max_clips)


def batch_loss(logits, lengths, labels, loss, alpha, lam):
    """Per-video reduction (eq. 5): the mean over videos of each video's loss."""
    dmil, center, n_normal = [], [], 0
    for z, t, y in zip(torch.split(logits, lengths), lengths, labels):
        k = int(math.ceil(t / alpha))
        top = torch.topk(z, k).values  # ties: any order, the values are equal
        target = torch.full_like(top, float(y))
        if loss == "kmax-mil":
            s = torch.sigmoid(top).mean()
            dmil.append(torch.nn.functional.binary_cross_entropy(s, target[0]))
        else:
            dmil.append(torch.nn.functional.binary_cross_entropy_with_logits(top, target))
        if y == 0:
            s = torch.sigmoid(z)
            center.append(((s - s.mean()) ** 2).mean())  # biased variance
            n_normal += 1
    l_dmil = torch.stack(dmil).mean()
    l_c = torch.stack(center).mean() if loss == "dmil-center" and center else torch.zeros(())
    return l_dmil + lam * l_c, l_dmil, l_c


@torch.no_grad()
def evaluate(model, videos, clip_frames=16, threshold=0.5):
    model.eval()
    scores, labels, normal_scores = [], [], []
    for _, x, y, gt in videos:
        s = torch.sigmoid(model(x)).numpy()
        frames = np.repeat(s, clip_frames)
        g = gt[: len(frames)] if gt is not None else np.zeros(len(frames), np.uint8)
        frames = frames[: len(g)]
        scores.append(frames)
        labels.append(g)
        if y == 0:
            normal_scores.append(frames)
    model.train()
    s, l = np.concatenate(scores), np.concatenate(labels)
    ns = np.concatenate(normal_scores) if normal_scores else np.zeros(0)
    return {"auc": roc_auc_score(l, s), "ap": average_precision_score(l, s),
            "far": float((ns >= threshold).mean()) if ns.size else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--loss", default="dmil-center", choices=["dmil-center", "dmil", "kmax-mil"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=4760)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--batch", type=int, default=30, help="videos of each class a step")
    ap.add_argument("--max-clips", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--alpha", type=float, default=4.0)
    ap.add_argument("--lam", type=float, default=20.0)
    ap.add_argument("--dropout", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    train, test = read_manifest(a.train), read_manifest(a.test)
    normal = [v for v in train if v[2] == 0]
    anomalous = [v for v in train if v[2] == 1]
    f = train[0][1].shape[1]
    model = ARNet(f, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=a.weight_decay)
    history, t0 = [], time.time()
    for step in range(1, a.iterations + 1):
        picked = ([normal[i] for i in rng.choice(len(normal), a.batch, replace=False)] +
                  [anomalous[i] for i in rng.choice(len(anomalous), a.batch, replace=False)])
        xs, lengths, labels = [], [], []
        for _, x, y, _ in picked:
            rows = sample_rows(x.shape[0], y, a.max_clips, rng)
            xs.append(x[torch.from_numpy(rows)])
            lengths.append(len(rows))
            labels.append(y)
        logits = model(torch.cat(xs))  # packed: no padding
        loss, _, _ = batch_loss(logits, lengths, labels, a.loss, a.alpha, a.lam)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if a.eval_every and step % a.eval_every == 0 and step != a.iterations:
            r = evaluate(model, test)
            history.append({"step": step, **r})
            if not a.json:
                print("step %d: AUC %.2f %%, FAR %.2f %%" % (step, 100 * r["auc"], 100 * r["far"]),
                      file=sys.stderr)
    r = evaluate(model, test)
    out = {"loss": a.loss, "seed": a.seed, "dropout": a.dropout, "features": f, "steps": a.iterations,
           "seconds": round(time.time() - t0, 1), "history": history, **r}
    if a.json:
        print(json.dumps(out))
    else:
        print("%s seed %d, %d features, %d steps: AUC %.2f %%, FAR %.2f %%, AP %.2f %% (%.0f s)"
              % (a.loss, a.seed, f, a.iterations, 100 * r["auc"], 100 * r["far"],
                 100 * r["ap"], out["seconds"]))


if __name__ == "__main__":
    main()
