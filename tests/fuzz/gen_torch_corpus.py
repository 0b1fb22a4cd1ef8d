#!/usr/bin/python3
"""gen_torch_corpus.py OUT -- seeds of the torchfile fuzz target: small state
dicts written by torch.save itself (Debian's /usr/bin/python3 with torch), in
the zip format (torch >= 1.6, stored entries) and the legacy format, with the
dtypes and layouts weight files have: float32/16/64, bfloat16, int64
(num_batches_tracked), views with strides and offsets, one storage shared by
two tensors, a "module." prefix, nested parameters; pickle protocol 4
(FRAME, MEMOIZE); and small versions of the amplification shapes the
reader refuses or bounds (issue 17): more entries than a state dict has,
one tensor under many names, one view repeated, a deflated storage entry
declaring far more than its storage needs."""
import collections
import os
import sys
import zipfile

import torch


def save(out, name, sd, legacy=False, protocol=2):
    path = os.path.join(out, name)
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)


def deflate_bomb(out, name, w):
    """A zip torch file whose one storage entry (4 floats) is deflated and
    declares 16 MiB: the reader refuses it before inflating."""
    src = os.path.join(out, name + ".tmp")
    torch.save(collections.OrderedDict(w=w[0, :4].clone()), src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(os.path.join(out, name), "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data/0"):
                data += bytes(16 << 20)
            zout.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    os.remove(src)


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
    for legacy in (False, True):
        tag = "legacy" if legacy else "zip"
        save(out, f"p4-{tag}.pt", base, legacy, protocol=4)
    # amplification shapes, small
    save(out, "aliases-zip.pt", collections.OrderedDict((f"k{i}", w) for i in range(300)))
    save(out, "many-keys-zip.pt", collections.OrderedDict((f"k{i}", w) for i in range(2100)),
         protocol=4)
    big = torch.randn(2048, generator=g)
    save(out, "views-repeated-zip.pt",
         collections.OrderedDict((f"v{i}", big.view(2048)) for i in range(300)))
    deflate_bomb(out, "deflate-bomb-zip.pt", w)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_torch_corpus.py OUT_DIR")
    main(sys.argv[1])
