#!/usr/bin/python3
"""compare_trajectory.py -- libarnet's training step against the independent
PyTorch implementation (arnet_torch.py), made deterministic: the same initial
weights, dropout 0, and a batch that is the whole small training set, so
both sides see the same data every step.  After N Adam steps the weights of
the two must agree to float32 rounding, for each loss variant.  This checks
the losses, their reduction, the backward pass and Adam against torch's
autograd and torch.optim.Adam; the random parts (video picks, dropout masks)
are compared statistically by running both on the same data set
(docs/training.md).

    compare_trajectory.py [DATA_DIR]     # an `arnet synth` folder; made if absent

Writes TAP; exit 0 when every variant agrees (or, without torch or numpy,
after a skip plan), 1 when one does not.  Runs the library through the ctypes bindings.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP %s" % e)
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
sys.path.insert(0, HERE)
import arnet  # noqa: E402
import arnet_torch as ref  # noqa: E402

STEPS = 20
F = 32


def main():
    tmp = None
    data = sys.argv[1] if len(sys.argv) > 1 else None
    if data is None:
        tmp = tempfile.TemporaryDirectory()
        data = os.path.join(tmp.name, "data")
        exe = os.environ.get("ARNET_EXE", "arnet")
        subprocess.run([exe, "synth", "--out", data, "--feature-dim", str(F), "--scale", "0.1"],
                       check=True, stdout=subprocess.DEVNULL)
    videos = ref.read_manifest(os.path.join(data, "train.txt"))
    normal = [v for v in videos if v[2] == 0][:6]
    anomalous = [v for v in videos if v[2] == 1][:4]
    vids = normal + anomalous
    f = vids[0][1].shape[1]
    failed, n = 0, 0
    for loss in ("dmil-center", "dmil", "kmax-mil"):
        ds = arnet.Dataset(f)
        for name, x, y, _ in vids:
            ds.add(x.numpy(), y, name=name)
        model = arnet.Model(feature_dim=f, seed=3, dropout=0.0)
        p0 = model.get_params()
        net = ref.ARNet(f, dropout=0.0)
        with torch.no_grad():
            net.fc1.weight.copy_(torch.from_numpy(np.asarray(p0["w1"])))
            net.fc1.bias.copy_(torch.from_numpy(np.asarray(p0["b1"])))
            net.fc2.weight.copy_(torch.from_numpy(np.asarray(p0["w2"])).reshape(1, -1))
            net.fc2.bias.fill_(p0["b2"])
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                               weight_decay=5e-4)
        trainer = arnet.Trainer(model, ds, normal_per_batch=len(normal),
                                anomalous_per_batch=len(anomalous), lr=1e-3, loss=loss)
        x = torch.cat([v[1] for v in vids])
        lengths = [v[1].shape[0] for v in vids]
        labels = [v[2] for v in vids]
        worst_loss = 0.0
        for _ in range(STEPS):
            st = trainer.step()
            total, _, _ = ref.batch_loss(net(x), lengths, labels, loss, 4.0, 20.0)
            opt.zero_grad()
            total.backward()
            opt.step()
            worst_loss = max(worst_loss, abs(st.loss - total.item()) / max(1e-12, abs(total.item())))
        p = model.get_params()
        ours = np.concatenate([np.asarray(p["w1"]).ravel(), np.asarray(p["b1"]),
                               np.asarray(p["w2"]), [p["b2"]]])
        theirs = np.concatenate([net.fc1.weight.detach().numpy().ravel(),
                                 net.fc1.bias.detach().numpy(),
                                 net.fc2.weight.detach().numpy().ravel(), [net.fc2.bias.item()]])
        start = np.concatenate([np.asarray(p0["w1"]).ravel(), np.asarray(p0["b1"]),
                                np.asarray(p0["w2"]), [p0["b2"]]])
        # Adam divides by sqrt(v): a gradient entry near 0 turns rounding
        # noise into a step of up to lr, so single weights may differ by
        # that much; on average the two must agree to float rounding.
        diff = np.abs(ours - theirs)
        moved = np.abs(ours - start)
        good = (diff.mean() < 1e-3 * moved.mean() and diff.max() < 1e-3
                and worst_loss < 1e-4)
        n += 1
        failed += not good
        print("%s %d - %s: %d steps, weights differ by %.3g on average (largest %.3g) "
              "after moving %.3g on average; losses by at most %.3g (relative)"
              % ("ok" if good else "not ok", n, loss, STEPS, diff.mean(), diff.max(),
                 moved.mean(), worst_loss))
    print("1..%d" % n)
    if tmp:
        tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
