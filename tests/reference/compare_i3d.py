#!/usr/bin/python3
"""compare_i3d.py -- libarnet's I3D forward pass against the independent
PyTorch I3D (i3d_torch.py): one seeded network with non-trivial BatchNorm,
saved with torch.save, read by arnet_extractor_load_torch (which folds the
BatchNorm), and both run on the same clips.  Features must agree within
1e-3 of the largest feature value, on 16- and 32-frame clips of odd extent
and on a full 16 x 224 x 224 clip, with one and two threads; the same for
the optical-flow network (Conv3d_1a with 2 input channels, both ports'
names), which arnet_extractor_stream must recognise.

    compare_i3d.py          # ARNET_LIBRARY names libarnet.so (else found by ctypes)

Writes TAP; exit 0 when every case agrees (or, without torch or numpy,
after a skip plan), 1 when one does not.  Calls the library through ctypes
on its public functions only.
"""
import ctypes
import ctypes.util
import os
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("1..0 # SKIP /usr/bin/python3 lacks numpy or torch: %s" % e)
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import i3d_torch  # noqa: E402

TOLERANCE = 1e-3


def library():
    path = os.environ.get("ARNET_LIBRARY") or ctypes.util.find_library("arnet")
    lib = ctypes.CDLL(path)
    vp = ctypes.c_void_p
    lib.arnet_extractor_load_torch.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
    lib.arnet_extractor_load_torch.restype = ctypes.c_int
    lib.arnet_extractor_clips.argtypes = [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                          ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
                                          ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.arnet_extractor_clips.restype = ctypes.c_int
    lib.arnet_extractor_free.argtypes = [vp]
    lib.arnet_extractor_stream.argtypes = [vp]
    lib.arnet_extractor_stream.restype = ctypes.c_int
    lib.arnet_last_error.restype = ctypes.c_char_p
    return lib


def ours(lib, x, clips, clip_frames, threads):
    """clips [n, T, H, W, C] float32 -> [n, 1024]."""
    clips = np.ascontiguousarray(clips, dtype=np.float32)
    n, t, h, w, _ = clips.shape
    out = np.zeros((n, 1024), np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    rc = lib.arnet_extractor_clips(x, clips.ctypes.data_as(fp), n, t, h, w, threads,
                                   out.ctypes.data_as(fp))
    if rc != 0:
        raise RuntimeError(lib.arnet_last_error().decode())
    return out


def reference(net, clips):
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 4, 1, 2, 3)
        return net(x).numpy()


def main():
    lib = library()
    nets = {3: i3d_torch.build(seed=11), 2: i3d_torch.build(seed=13, in_channels=2)}
    rng = np.random.default_rng(5)
    cases = [  # (what, weights file variant, input channels, clips shape, threads)
        ("two 16-frame clips, 67 x 59, zip file, piergiaj names", ("zip", "piergiaj"), 3,
         (2, 16, 67, 59), 2),
        ("one 32-frame clip, 61 x 66, legacy file, hassony2 names", ("legacy", "hassony2"), 3,
         (1, 32, 61, 66), 1),
        ("one 16 x 224 x 224 clip, zip file", ("zip", "piergiaj"), 3, (1, 16, 224, 224), 2),
        ("flow network (2 channels): two 16-frame clips, 59 x 71, zip file, piergiaj names",
         ("zip", "piergiaj"), 2, (2, 16, 59, 71), 2),
        ("flow network (2 channels): one 16-frame clip, 64 x 64, legacy file, hassony2 names",
         ("legacy", "hassony2"), 2, (1, 16, 64, 64), 1),
        ("flow network (2 channels): one 16 x 224 x 224 clip, zip file", ("zip", "piergiaj"),
         2, (1, 16, 224, 224), 2),
    ]
    print("1..%d" % (len(cases) + 1))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        handles = {}
        for i, (what, (fmt, naming), cin, shape, threads) in enumerate(cases, 1):
            net = nets[cin]
            if (fmt, naming, cin) not in handles:
                path = os.path.join(tmp, "%s-%s-%d.pt" % (fmt, naming, cin))
                i3d_torch.save(i3d_torch.state_dict_of(net, naming), path, fmt)
                h = ctypes.c_void_p()
                if lib.arnet_extractor_load_torch(path.encode(), ctypes.byref(h)) != 0:
                    print("Bail out! %s: %s" % (path, lib.arnet_last_error().decode()))
                    return 1
                stream = lib.arnet_extractor_stream(h)
                if stream != (1 if cin == 2 else 0):
                    print("Bail out! %s: arnet_extractor_stream %d for %d input channels"
                          % (path, stream, cin))
                    return 1
                handles[(fmt, naming, cin)] = h
            clips = (rng.random(shape + (cin,), dtype=np.float32) * 2 - 1).astype(np.float32)
            ref = reference(net, clips)
            got = ours(lib, handles[(fmt, naming, cin)], clips, shape[1], threads)
            scale = float(np.abs(ref).max())
            err = float(np.abs(got - ref).max())
            ok = err <= TOLERANCE * scale
            failed += not ok
            print("%s %d - %s, %d thread%s: max |ours - torch| = %.3g = %.2g of the largest "
                  "feature %.4g" % ("ok" if ok else "not ok", i, what, threads,
                                    "s" if threads > 1 else "", err, err / scale, scale))
            last = (ref, got)
        # The comparison can see a wrong network: the reference features vary
        # across channels, and another seed's features are far outside the
        # tolerance from these.
        ref, got = last
        other = reference(i3d_torch.build(seed=12, in_channels=2), clips)
        spread = float(np.std(ref)) / float(np.abs(ref).max())
        apart = float(np.abs(other - ref).max()) / float(np.abs(ref).max())
        ok = spread > 0.01 and apart > 100 * TOLERANCE
        failed += not ok
        print("%s %d - the check discriminates: features spread %.3g of the largest, another "
              "seed's differ by %.3g" % ("ok" if ok else "not ok", len(cases) + 1, spread, apart))
        for h in handles.values():
            lib.arnet_extractor_free(h)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
