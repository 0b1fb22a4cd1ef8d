#!/usr/bin/python3
"""gen_torch_corpus.py OUT -- seeds of the torchfile fuzz target: small state
dicts written by torch.save itself (Debian's /usr/bin/python3 with torch), in
the zip format (torch >= 1.6, stored entries) and the legacy format, with the
dtypes and layouts weight files have: float32/16/64, bfloat16, int64
(num_batches_tracked), views with strides and offsets, one storage shared by
two tensors, a "module." prefix, nested parameters."""
import collections
import os
import sys

import torch


def save(out, name, sd, legacy=False):
    path = os.path.join(out, name)
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)


def main(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 4, generator=g)
    base = collections.OrderedDict()
    base["conv.weight"] = w
    base["conv.bias"] = torch.randn(3, generator=g)
    base["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    for legacy in (False, True):
        tag = "legacy" if legacy else "zip"
        save(out, f"f32-{tag}.pt", base, legacy)
        save(out, f"f16-{tag}.pt",
             collections.OrderedDict((k, v.half() if v.is_floating_point() else v)
                                     for k, v in base.items()), legacy)
        save(out, f"f64-{tag}.pt", collections.OrderedDict(w=w.double()), legacy)
        views = collections.OrderedDict()
        views["t"] = w.t()                 # strides (1, 4)
        views["row"] = w[1]                # storage offset 4
        views["same"] = w                  # the storage shared with both
        save(out, f"views-{tag}.pt", views, legacy)
        save(out, f"module-{tag}.pt",
             collections.OrderedDict(("module." + k, v) for k, v in base.items()), legacy)
    save(out, "bf16-zip.pt", collections.OrderedDict(w=w.bfloat16()))
    save(out, "param-zip.pt", collections.OrderedDict(p=torch.nn.Parameter(w)))
    save(out, "5d-zip.pt", collections.OrderedDict(k=torch.randn(2, 1, 1, 2, 2, generator=g)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_torch_corpus.py OUT_DIR")
    main(sys.argv[1])
