#!/usr/bin/python3
"""i3d_torch.py -- an independent Inception-I3D (RGB) in PyTorch, written from
the network's description (issue 12, docs/extractor.md), not from libarnet's C
code and not from the public ports: the reference the C extractor must equal.

Module names follow piergiaj/pytorch-i3d, so the state dict has
`Conv3d_1a_7x7.conv3d.weight`, `Mixed_3b.b1b.bn.running_var`, ...; the names of
hassony2/kinetics_i3d_pytorch (`conv3d_1a_7x7.conv3d.weight`,
`mixed_3b.branch_1.1.batch3d.running_var`, ...) are a key renaming.

Weights are random (seeded) with BatchNorm that is not trivial: a random affine,
then running statistics from one pass in train mode over random clips.

    /usr/bin/python3 tests/reference/i3d_torch.py weights --out W.pt \\
        [--seed S] [--format zip|legacy] [--naming piergiaj|hassony2] \\
        [--module-prefix] [--num-batches-tracked] [--logits N] \\
        [--dtype float32|float64|float16] [--dump-npy DIR] [--in-channels 3|2]
    /usr/bin/python3 tests/reference/i3d_torch.py features --weights W.pt \\
        --frames IN.npy --out OUT.npy [--clip-frames 16|0] [--double] [--threads N]
    /usr/bin/python3 tests/reference/i3d_torch.py tensors --out T.pt [--format zip|legacy]
    /usr/bin/python3 tests/reference/i3d_torch.py variants --dir DIR [--seed S]

weights: writes a state dict with torch.save (zip, or legacy with
  _use_new_zipfile_serialization=False); --dump-npy writes every tensor of the
  file also as DIR/<key>.npy (float64) for a check of the reader.
--in-channels 2 makes the optical-flow network (Conv3d_1a takes flow x, y).
features: IN.npy is [T,H,W,C] float in [-1,1] (C = 3, or 2 for a flow
  network's weights), channels last, already
  cropped; OUT.npy gets [T//16, 1024] float32 (one row per 16 frames, the
  default) or [1024] with --clip-frames 0 (the whole input as one clip).
  --double computes in float64.  Either naming, any `module.` prefix.
tensors: a small state dict for the reader's unit tests (dtypes, views,
  strides, storage offsets, shared storage), values given by formulas the C
  test knows.
variants: what the C tests read, from one seeded network in one run:
  p_zip.pt, p_legacy.pt (piergiaj names; p_zip_p4.pt and p_legacy_p4.pt the
  same with pickle protocol 4), h_zip.pt (hassony2 names with
  `module.`, num_batches_tracked and logits), h_legacy.pt, p_f64_legacy.pt
  (float64, num_batches_tracked, logits), sums.txt (per tensor of p_legacy.pt:
  key numel sum sum-of-squares first last, in float64) and tensors_zip.pt,
  tensors_legacy.pt.  --stamp FILE gets "ok" when done, or "skip: ..." (exit
  0) when torch is missing: the build makes these files once
  (tests/meson.build, target i3d-reference-files, in build/tests/i3d_ref).

Needs Debian's torch and numpy (/usr/bin/python3).  Exit 77 without them.
"""
import argparse
import hashlib
import os
import sys


def _script_digest():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _stamp_is_current(argv):
    """The build runs `variants --stamp FILE` on every build (meson's
    build_always_stale), so that a "skip" stamp made before numpy and torch
    were installed (./dev.sh demo, then ./dev.sh test installing them) does
    not outlive the install.  A stamp saying "ok" for this very script, with
    its folder there, is kept without importing torch (a fraction of a
    second)."""
    if "--stamp" not in argv[:-1] or "--dir" not in argv[:-1]:
        return False
    stamp = argv[argv.index("--stamp") + 1]
    folder = argv[argv.index("--dir") + 1]
    try:
        with open(stamp) as f:
            lines = f.read().split("\n")
    except OSError:
        return False
    return (lines[0] == "ok" and len(lines) > 1 and lines[1] == "script " + _script_digest()
            and os.path.isdir(folder))


if __name__ == "__main__" and _stamp_is_current(sys.argv):
    sys.exit(0)

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the C tests skip on 77, or on a stamp saying so
    print("i3d_torch.py: needs numpy and torch: %s" % e, file=sys.stderr)
    if "--stamp" in sys.argv[:-1]:
        with open(sys.argv[sys.argv.index("--stamp") + 1], "w") as f:
            f.write("skip: /usr/bin/python3 without numpy and torch (%s)\n" % e)
        sys.exit(0)
    sys.exit(77)

BN_EPS = 1e-3

# Inception blocks: name, channels in, (b0, b1a, b1b, b2a, b2b, b3b).
BLOCKS = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}

# The walk: ("conv", name, in, out, k, s), ("pool", name, k, s), ("mixed", name).
LAYERS = [
    ("conv", "Conv3d_1a_7x7", 3, 64, (7, 7, 7), (2, 2, 2)),
    ("pool", "MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2)),
    ("conv", "Conv3d_2b_1x1", 64, 64, (1, 1, 1), (1, 1, 1)),
    ("conv", "Conv3d_2c_3x3", 64, 192, (3, 3, 3), (1, 1, 1)),
    ("pool", "MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    ("mixed", "Mixed_3b"),
    ("mixed", "Mixed_3c"),
    ("pool", "MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    ("mixed", "Mixed_4b"),
    ("mixed", "Mixed_4c"),
    ("mixed", "Mixed_4d"),
    ("mixed", "Mixed_4e"),
    ("mixed", "Mixed_4f"),
    ("pool", "MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
    ("mixed", "Mixed_5b"),
    ("mixed", "Mixed_5c"),
]


def same_pad(n, k, s):
    """TensorFlow SAME along one dimension: (front, back)."""
    if n % s == 0:
        p = max(k - s, 0)
    else:
        p = max(k - n % s, 0)
    return p // 2, p - p // 2


def pad_same(x, k, s):
    """Zero-pad x [N,C,T,H,W] for kernel k, stride s (per dimension)."""
    pads = []
    for d in (2, 1, 0):  # F.pad lists the last dimension first
        front, back = same_pad(x.shape[2 + d], k[d], s[d])
        pads += [front, back]
    if not any(pads):
        return x
    return F.pad(x, pads, mode="constant", value=0.0)


class Unit(torch.nn.Module):
    """Conv3d (no bias) + BatchNorm3d (eps 1e-3) + ReLU, SAME padding."""

    def __init__(self, cin, cout, k, s=(1, 1, 1)):
        super().__init__()
        self.k, self.s = tuple(k), tuple(s)
        self.conv3d = torch.nn.Conv3d(cin, cout, self.k, stride=self.s, bias=False)
        # momentum None: the running statistics are the cumulative average,
        # so one pass in train mode leaves exactly that pass's statistics.
        self.bn = torch.nn.BatchNorm3d(cout, eps=BN_EPS, momentum=None)

    def forward(self, x):
        return F.relu(self.bn(self.conv3d(pad_same(x, self.k, self.s))))


class Pool(torch.nn.Module):
    """Max pool with SAME padding by zeros (the inputs are post-ReLU)."""

    def __init__(self, k, s):
        super().__init__()
        self.k, self.s = tuple(k), tuple(s)

    def forward(self, x):
        return F.max_pool3d(pad_same(x, self.k, self.s), self.k, self.s)


class Block(torch.nn.Module):
    def __init__(self, cin, ch):
        super().__init__()
        self.b0 = Unit(cin, ch[0], (1, 1, 1))
        self.b1a = Unit(cin, ch[1], (1, 1, 1))
        self.b1b = Unit(ch[1], ch[2], (3, 3, 3))
        self.b2a = Unit(cin, ch[3], (1, 1, 1))
        self.b2b = Unit(ch[3], ch[4], (3, 3, 3))
        self.b3a = Pool((3, 3, 3), (1, 1, 1))
        self.b3b = Unit(cin, ch[5], (1, 1, 1))

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


class I3D(torch.nn.Module):
    """in_channels 3: the RGB network; 2: the optical-flow network (flow x,
    y), which differs in Conv3d_1a's input channels only."""

    def __init__(self, in_channels=3):
        super().__init__()
        self.order = []
        for layer in LAYERS:
            if layer[0] == "conv":
                _, name, cin, cout, k, s = layer
                if name == "Conv3d_1a_7x7":
                    cin = in_channels
                mod = Unit(cin, cout, k, s)
            elif layer[0] == "pool":
                _, name, k, s = layer
                mod = Pool(k, s)
            else:
                name = layer[1]
                mod = Block(*BLOCKS[name])
            self.add_module(name, mod)
            self.order.append(name)

    def forward(self, x):
        """x [N,C,T,H,W] -> features [N,1024]: the mean over all positions."""
        for name in self.order:
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3, 4))


def build(seed=0, calib_shape=(2, 16, 64, 64), in_channels=3):
    """A seeded I3D in eval mode with non-trivial BatchNorm (in_channels 2:
    the flow network)."""
    torch.manual_seed(seed)
    net = I3D(in_channels)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
        n, t, h, w = calib_shape
        clips = torch.rand(n, in_channels, t, h, w, generator=g) * 2 - 1
        net.train()
        net(clips)
    net.eval()
    return net


# ---- naming ------------------------------------------------------------------

def hassony2_name(key):
    """piergiaj key -> hassony2 key."""
    parts = key.split(".")
    top = parts[0]
    if top.startswith("Conv3d_"):
        mod = "conv3d" + top[len("Conv3d"):]
        rest = parts[1:]
    elif top.startswith("Mixed_"):
        mod = "mixed" + top[len("Mixed"):]
        branch = {"b0": "branch_0", "b1a": "branch_1.0", "b1b": "branch_1.1",
                  "b2a": "branch_2.0", "b2b": "branch_2.1", "b3b": "branch_3.1"}[parts[1]]
        mod += "." + branch
        rest = parts[2:]
    elif top == "logits":
        mod = "conv3d_0c_1x1"
        rest = parts[1:]
    else:
        raise ValueError(key)
    if rest[0] == "bn":
        rest = ["batch3d"] + rest[1:]
    return ".".join([mod] + rest)


def piergiaj_name(key):
    """Either naming (with or without `module.`) -> piergiaj key."""
    if key.startswith("module."):
        key = key[len("module."):]
    if key[:1].isupper() or key.startswith("logits"):
        return key
    parts = key.split(".")
    if parts[0] == "conv3d_0c_1x1":
        return ".".join(["logits"] + parts[1:]).replace(".batch3d.", ".bn.")
    if parts[0].startswith("conv3d_"):
        mod, rest = "Conv3d" + parts[0][len("conv3d"):], parts[1:]
    else:
        mod = "Mixed" + parts[0][len("mixed"):]
        if parts[1] == "branch_0":
            br, rest = "b0", parts[2:]
        else:
            br = {("branch_1", "0"): "b1a", ("branch_1", "1"): "b1b",
                  ("branch_2", "0"): "b2a", ("branch_2", "1"): "b2b",
                  ("branch_3", "1"): "b3b"}[(parts[1], parts[2])]
            rest = parts[3:]
        mod += "." + br
    if rest[0] == "batch3d":
        rest = ["bn"] + rest[1:]
    return ".".join([mod] + rest)


def state_dict_of(net, naming="piergiaj", module_prefix=False, num_batches_tracked=False,
                  logits=0, dtype=torch.float32, seed=0):
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked") and not num_batches_tracked:
            continue
        sd[k] = v.clone()
    if logits:
        g = torch.Generator().manual_seed(seed + 2)
        sd["logits.conv3d.weight"] = torch.randn(logits, 1024, 1, 1, 1, generator=g) * 0.01
        sd["logits.conv3d.bias"] = torch.zeros(logits)
    out = {}
    for k, v in sd.items():
        if v.is_floating_point():
            v = v.to(dtype)
        name = hassony2_name(k) if naming == "hassony2" else k
        if module_prefix:
            name = "module." + name
        out[name] = v
    # An OrderedDict, as nn.Module.state_dict() returns.
    import collections
    return collections.OrderedDict(out)


def save(obj, path, fmt, protocol=2):
    if fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False,
                   pickle_protocol=protocol)
    else:
        torch.save(obj, path, pickle_protocol=protocol)


def load_into(path, double=False):
    """A model from a state dict file of either naming."""
    sd = torch.load(path, map_location="cpu")
    stem = [v for k, v in sd.items() if piergiaj_name(k) == "Conv3d_1a_7x7.conv3d.weight"]
    net = I3D(int(stem[0].shape[1]) if stem else 3)
    want = net.state_dict()
    fixed = {}
    for k, v in sd.items():
        k = piergiaj_name(k)
        if k.startswith("logits"):
            continue
        fixed[k] = v.to(torch.float64 if double else torch.float32) if v.is_floating_point() else v
    for k in want:
        if k.endswith("num_batches_tracked") and k not in fixed:
            fixed[k] = want[k]
    if double:
        net = net.double()
    net.load_state_dict(fixed, strict=True)
    net.eval()
    return net


def features(net, frames, clip_frames=16, double=False):
    """frames [T,H,W,C] in [-1,1] -> [T//clip, 1024] (or [1024] with clip 0);
    C = 3 (RGB) or 2 (flow x, y) as the network's Conv3d_1a."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    x = x.to(torch.float64 if double else torch.float32)
    x = x.permute(3, 0, 1, 2).unsqueeze(0)  # [1,C,T,H,W]
    with torch.no_grad():
        if clip_frames == 0:
            return net(x)[0].float().numpy()
        n = x.shape[2] // clip_frames
        out = [net(x[:, :, i * clip_frames:(i + 1) * clip_frames])[0] for i in range(n)]
        return torch.stack(out).float().numpy() if out else np.zeros((0, 1024), np.float32)


# ---- the small file for the reader's unit tests -----------------------------

def small_tensors():
    """Values the C test knows: a[i] = i for the flattened index i, etc."""
    import collections
    a = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    base = torch.arange(30, dtype=torch.float32) * 0.5
    sd = collections.OrderedDict()
    sd["a"] = a                                              # contiguous
    sd["d"] = torch.arange(6, dtype=torch.float64).reshape(3, 2) * 0.25  # float64
    sd["h"] = torch.arange(5, dtype=torch.float16) - 2       # float16
    sd["t"] = a.transpose(0, 2)                              # [4,3,2], strides (1,4,12)
    sd["v"] = a[1]                                           # storage offset 12
    sd["s1"] = base[2:8]                                     # shares storage with s2
    sd["s2"] = base[10:20].reshape(2, 5)
    sd["z"] = torch.tensor(3.5)                              # 0-d
    sd["n"] = torch.tensor([7, -1], dtype=torch.int64)       # not float: skipped
    sd["e"] = torch.zeros(0, 3)                              # empty
    return sd


def write_variants(d, seed):
    os.makedirs(d, exist_ok=True)
    net = build(seed)
    j = os.path.join
    p = state_dict_of(net, seed=seed)
    save(p, j(d, "p_zip.pt"), "zip")
    save(p, j(d, "p_legacy.pt"), "legacy")
    # pickle protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL)
    save(p, j(d, "p_zip_p4.pt"), "zip", protocol=4)
    save(p, j(d, "p_legacy_p4.pt"), "legacy", protocol=4)
    save(state_dict_of(net, "hassony2", True, True, 400, seed=seed), j(d, "h_zip.pt"), "zip")
    save(state_dict_of(net, "hassony2", seed=seed), j(d, "h_legacy.pt"), "legacy")
    save(state_dict_of(net, num_batches_tracked=True, logits=400, dtype=torch.float64,
                       seed=seed), j(d, "p_f64_legacy.pt"), "legacy")
    with open(j(d, "sums.txt"), "w") as f:
        for k, v in p.items():
            x = v.double().flatten()
            f.write("%s %d %r %r %r %r\n" % (k, x.numel(), float(x.sum()),
                                            float((x * x).sum()), float(x[0]), float(x[-1])))
    save(small_tensors(), j(d, "tensors_zip.pt"), "zip")
    save(small_tensors(), j(d, "tensors_legacy.pt"), "legacy")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("weights")
    w.add_argument("--out", required=True)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--format", choices=["zip", "legacy"], default="zip")
    w.add_argument("--naming", choices=["piergiaj", "hassony2"], default="piergiaj")
    w.add_argument("--module-prefix", action="store_true")
    w.add_argument("--num-batches-tracked", action="store_true")
    w.add_argument("--logits", type=int, default=0)
    w.add_argument("--dtype", choices=["float32", "float64", "float16"], default="float32")
    w.add_argument("--dump-npy")
    w.add_argument("--in-channels", type=int, choices=[2, 3], default=3,
                   help="3: the RGB network; 2: the optical-flow network")
    f = sub.add_parser("features")
    f.add_argument("--weights", required=True)
    f.add_argument("--frames", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--clip-frames", type=int, default=16)
    f.add_argument("--double", action="store_true")
    f.add_argument("--threads", type=int, default=0)
    v = sub.add_parser("variants")
    v.add_argument("--dir", required=True)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--stamp", help="write 'ok' here when done (for the build)")
    t = sub.add_parser("tensors")
    t.add_argument("--out", required=True)
    t.add_argument("--format", choices=["zip", "legacy"], default="zip")
    a = p.parse_args(argv)

    if a.cmd == "weights":
        net = build(a.seed, in_channels=a.in_channels)
        sd = state_dict_of(net, a.naming, a.module_prefix, a.num_batches_tracked, a.logits,
                           getattr(torch, a.dtype), a.seed)
        save(sd, a.out, a.format)
        if a.dump_npy:
            os.makedirs(a.dump_npy, exist_ok=True)
            for k, v in sd.items():
                np.save(os.path.join(a.dump_npy, k + ".npy"), v.double().numpy())
        n = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k)
        print("wrote %s: %d tensors, %d parameters" % (a.out, len(sd), n))
    elif a.cmd == "features":
        if a.threads:
            torch.set_num_threads(a.threads)
        frames = np.load(a.frames)
        net = load_into(a.weights, a.double)
        cin = net.Conv3d_1a_7x7.conv3d.in_channels
        if frames.ndim != 4 or frames.shape[3] != cin:
            sys.exit("i3d_torch.py: %s: want [T,H,W,%d], got %s" % (a.frames, cin, frames.shape))
        np.save(a.out, features(net, frames, a.clip_frames, a.double).astype(np.float32))
    elif a.cmd == "variants":
        write_variants(a.dir, a.seed)
        if a.stamp:
            with open(a.stamp, "w") as f:
                f.write("ok\nscript %s\n" % _script_digest())
    else:
        save(small_tensors(), a.out, a.format)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
