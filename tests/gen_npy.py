#!/usr/bin/python3
"""gen_npy.py -- writes .npy files with NumPy itself, the reference the C
reader (libarnet/data/npy.c) is checked against.

  gen_npy.py fixtures DIR       the small fixed files kept in tests/fixtures/npy
  gen_npy.py random DIR SEED    random arrays of every supported kind, each
                                with the float32 values NumPy derives from it
                                (raw little-endian <name>.f32) and a list
                                (index.txt: name crop T F) for test_npy.c

Fixture values follow a formula test_npy.c recomputes on its own:
[T, F]: v = (t*F + f) * 0.25 - 2.5; [T, C, F]: v = (t*C*F + c*F + f) * 0.25 - 2.5
(exact in float16, so every dtype holds the same numbers).
"""
import sys

import numpy as np


def save(path, arr, version):
    with open(path, "wb") as fp:
        np.lib.format.write_array(fp, arr, version=version, allow_pickle=False)


def formula(shape):
    return (np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) * 0.25 - 2.5)


# name: (shape, version, dtype, order)
FIXTURES = {
    "2d_v1_f4_le_C": ((3, 4), (1, 0), "<f4", "C"),
    "2d_v1_f4_be_C": ((3, 4), (1, 0), ">f4", "C"),
    "2d_v1_f8_le_F": ((3, 4), (1, 0), "<f8", "F"),
    "2d_v2_f2_le_C": ((3, 4), (2, 0), "<f2", "C"),
    "2d_v3_f8_be_F": ((3, 4), (3, 0), ">f8", "F"),
    "2d_v1_f2_be_F": ((3, 4), (1, 0), ">f2", "F"),
    "3d_v1_f4_le_C": ((3, 2, 4), (1, 0), "<f4", "C"),
    "3d_v2_f8_be_F": ((3, 2, 4), (2, 0), ">f8", "F"),
    "3d_v1_f2_le_F": ((3, 2, 4), (1, 0), "<f2", "F"),
    "3d_v3_f4_be_C": ((3, 2, 4), (3, 0), ">f4", "C"),
}

# Labels: [0, 1, 0, 2, 0, -1 or max] in each dtype -> 0 1 0 1 0 1.
LABELS = {
    "labels_b1": "|b1",
    "labels_i1": "|i1",
    "labels_u2_be": ">u2",
    "labels_i8": "<i8",
    "labels_f8": "<f8",
    "labels_f2_be": ">f2",
}


def fixtures(out):
    for name, (shape, version, dtype, order) in FIXTURES.items():
        arr = np.array(formula(shape).astype(dtype), order=order)
        save(f"{out}/{name}.npy", arr, version)
    for name, dtype in LABELS.items():
        vals = [0, 1, 0, 2, 0, -1 if dtype[1] in "if" else 1]
        if dtype[1] == "u":
            vals[5] = np.iinfo(np.dtype(dtype)).max
        if dtype[1] == "b":
            vals = [bool(v) for v in vals]
        save(f"{out}/{name}.npy", np.array(vals).astype(dtype), (1, 0))


def random_set(out, seed):
    rng = np.random.default_rng(seed)
    lines = []
    k = 0
    for version in [(1, 0), (2, 0), (3, 0)]:
        for dtype in ["<f2", ">f2", "<f4", ">f4", "<f8", ">f8"]:
            for order in "CF":
                for rank in (2, 3):
                    T = int(rng.integers(1, 40))
                    F = int(rng.integers(1, 70))
                    C = int(rng.integers(1, 11))
                    shape = (T, F) if rank == 2 else (T, C, F)
                    base = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4)
                    arr = np.array(base.astype(dtype), order=order)
                    name = f"r{k:03d}"
                    k += 1
                    save(f"{out}/{name}.npy", arr, version)
                    wide = arr.astype(np.float64)
                    if rank == 2:
                        crops = [(-1, wide.astype(np.float32))]
                    else:
                        crops = [(-1, wide.mean(axis=1).astype(np.float32)),
                                 (C - 1, arr[:, C - 1, :].astype(np.float32))]
                    for crop, ref in crops:
                        tag = f"{name}_{crop + 1}"
                        np.ascontiguousarray(ref).astype("<f4").tofile(f"{out}/{tag}.f32")
                        lines.append(f"{name} {crop} {T} {F}")
    with open(f"{out}/index.txt", "w") as fp:
        fp.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "random":
        random_set(sys.argv[2], int(sys.argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
