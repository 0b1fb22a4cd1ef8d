"""data.py -- data sets (manifests, videos added from memory, the synthetic
ShanghaiTech-shaped set), evaluation with the paper's frame metrics, and
.npy feature files (arnet_dataset_*, arnet_synth_*, arnet_evaluate_ex,
arnet_npy_* in arnet.h).
"""
import ctypes
import os
import threading
from collections import namedtuple

from . import _buffers
from ._lib import (E_FORMAT, E_INVALID, E_SHAPE, E_STATE, ArnetError, EvalOptions, EvalResult, Handle,
                   LoadOptions, NpyOptions, SynthOptions, VideoInfo, encode_path, lib,
                   new_struct, using, put, c_int_arg)

Video = namedtuple("Video", "name label n_clips features n_frames frame_labels")
Video.__doc__ = """One video of a Dataset (copies of its data): features is
n_clips x feature_dim (numpy float32 or list of lists), frame_labels the
frame ground truth (numpy uint8 or list of 0/1) or None."""


class Dataset(object):
    """Videos with labels (0 normal, 1 anomalous) and optional frame ground
    truth.  Dataset(feature_dim=0) is empty (0: set by the first video);
    Dataset.from_manifest(path) loads a manifest (docs/data.md)."""

    def __init__(self, feature_dim=0):
        out = ctypes.c_void_p()
        lib.arnet_dataset_create(c_int_arg(feature_dim, "feature_dim", ctypes.c_uint32),
                                 ctypes.byref(out))
        self._h = Handle(out.value, "arnet_dataset_free", "Dataset")
        self._lock = threading.Lock()

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        self._h = Handle(ptr, "arnet_dataset_free", "Dataset")
        self._lock = threading.Lock()
        return self

    @classmethod
    def from_manifest(cls, path, crop=-1, feature_dim=0, layout="auto", mmap=False):
        """Load `<features.npy> <label> [<ground truth>]` lines; paths are
        relative to the manifest's folder.  crop: -1 averages the crops of
        [T, C, F] files, else picks one; "each" makes every crop its own
        entry (evaluation averages the crops' scores); feature_dim 0 takes
        the first video's; layout "auto", "tcf" or "ctf" (the crop-axis
        rule, docs/data.md); mmap True maps the feature files instead of
        reading them (sets larger than memory; such videos' features are
        then None unless one [T, F] file).  A bad line raises ArnetError
        naming path:line."""
        opt = new_struct(LoadOptions)
        put(opt, "crop", CROP_EACH if crop == "each" else crop)
        put(opt, "feature_dim", feature_dim)
        opt.layout = layout_code(layout)
        opt.mmap = 1 if mmap else 0
        out = ctypes.c_void_p()
        lib.arnet_dataset_load_manifest(encode_path(path), ctypes.byref(opt),
                                        ctypes.byref(out))
        return cls._wrap(out.value)

    def add(self, features, label, frame_labels=None, name=None):
        """Add one video (deep-copied): features n_clips x feature_dim,
        label 0 or 1, frame_labels one 0/1 value per frame or None, name a
        str (None: "#<index>")."""
        dim = self.feature_dim or None
        # Errors found here name the video as the library's own do (a
        # missing name is "#<index>", what the library will call it).
        video = "video '%s'" % ("#%d" % len(self) if name is None else name)
        m = _buffers.as_float_matrix(features, dim if dim else None, video + ": features")
        if dim is None and m.rows == 1 and not _is_2d(features):
            raise ArnetError(E_SHAPE, "%s: features of the first video must be 2-D "
                             "(n_clips x feature_dim)" % video)
        fl_ptr, n_frames, keep = None, 0, None
        if frame_labels is not None:
            v = _buffers.as_label_vector(frame_labels, video + ": frame_labels")
            fl_ptr, n_frames, keep = ctypes.c_void_p(v.ptr), v.n, v.keep
        label = _label(label)
        with _busy(self), self._use() as p:
            lib.arnet_dataset_add(p, None if name is None else str(name).encode(),
                                  ctypes.c_void_p(m.ptr), m.rows, m.cols, label, fl_ptr,
                                  n_frames)
        del keep

    def __len__(self):
        with self._use() as p:
            return int(lib.arnet_dataset_size(p))

    @property
    def feature_dim(self):
        with self._use() as p:
            return int(lib.arnet_dataset_feature_dim(p))

    def count(self, label):
        """Number of videos with label 0 or 1."""
        label = _label(label)
        with self._use() as p:
            return int(lib.arnet_dataset_count(p, label))

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("video index %d out of range 0..%d" % (index, n - 1))
        info = new_struct(VideoInfo)
        dim = self.feature_dim
        # The copies are taken while the data set is held: info points into it.
        with self._use() as p:
            lib.arnet_dataset_video(p, index, ctypes.byref(info))
            features = None  # a mapped multi-crop or RGB + flow video (mmap=True)
            if info.features:
                features = _buffers.floats_from_pointer(info.features, info.n_clips * dim,
                                                        (info.n_clips, dim))
            frames = None
            if info.n_frames and info.frame_labels:
                frames = _buffers.labels_from_pointer(info.frame_labels, info.n_frames)
            name = info.name.decode("utf-8", "replace")
        return Video(name, info.label, info.n_clips, features, info.n_frames, frames)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def _use(self):
        """Hold the C data set for one call (closing waits for its end)."""
        return using(self, "Dataset")

    def close(self):
        """Free the C data set now (later if a Trainer still uses it)."""
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            h.close()

    @property
    def closed(self):
        return getattr(self, "_h", None) is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self.closed:
            return "<arnet.Dataset closed>"
        return "<arnet.Dataset videos=%d normal=%d anomalous=%d feature_dim=%d>" % (
            len(self), self.count(0), self.count(1), self.feature_dim)


def _is_2d(obj):
    shape = getattr(obj, "shape", None)
    if shape is not None:
        return len(shape) == 2
    try:
        return _buffers._is_row(obj[0])
    except (TypeError, IndexError, KeyError):
        return False


def _label(label):
    if label not in (0, 1):
        raise ArnetError(E_INVALID, "label %r must be 0 or 1" % (label,))
    return int(label)


class _busy(object):
    """Refuse (ArnetError, E_STATE) a second thread using a handle the C
    library does not lock, instead of corrupting it."""

    def __init__(self, obj):
        self._lock = obj._lock
        self._name = type(obj).__name__

    def __enter__(self):
        if not self._lock.acquire(False):
            raise ArnetError(E_STATE, "the %s is in use by another call (one thread at a "
                             "time per %s)" % (self._name, self._name))

    def __exit__(self, *exc):
        self._lock.release()


def as_dataset(data):
    """A Dataset, or a manifest path loaded as one."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, bytes, os.PathLike)):
        return Dataset.from_manifest(data)
    raise TypeError("expected an arnet.Dataset or a manifest path, got %s"
                    % type(data).__name__)


def synth(seed=1, feature_dim=2048, scale=1.0):
    """The synthetic ShanghaiTech-shaped set (docs/synthetic-data.md) as
    (train, test) Datasets; test videos carry frame ground truth.  scale in
    (0, 1] keeps that fraction of each class's videos (small tests)."""
    opt = _synth_options(seed, feature_dim, scale)
    train = ctypes.c_void_p()
    test = ctypes.c_void_p()
    lib.arnet_synth_create(ctypes.byref(opt), ctypes.byref(train), ctypes.byref(test))
    return Dataset._wrap(train.value), Dataset._wrap(test.value)


def synth_write(directory, seed=1, feature_dim=2048, scale=1.0):
    """Write the synthetic set to directory: features/, gt/, train.txt,
    test.txt (as `arnet synth`)."""
    opt = _synth_options(seed, feature_dim, scale)
    lib.arnet_synth_write(encode_path(directory), ctypes.byref(opt))


def _synth_options(seed, feature_dim, scale):
    opt = new_struct(SynthOptions)
    put(opt, "seed", seed)
    put(opt, "feature_dim", feature_dim)
    put(opt, "scale", scale)
    return opt


_GT_RULES = {"truncate": 0, "pad-last": 1}
_GT_NAMES = {v: k for k, v in _GT_RULES.items()}


def evaluate(model, dataset, gt_rule="truncate", clip_frames=16, far_threshold=0.5):
    """Score every clip and compute the paper's frame-level metrics.

    dataset is a Dataset or a manifest path.  Returns a dict: auc, ap,
    pr_auc, far, auc_abnormal (NaN when a class is missing), frames, videos,
    anomalous_videos, gt_rule ('truncate' or 'pad-last') and per_video, a
    list of dicts (name, label, n_clips, n_frames, auc, far, max_score,
    mean_score) in the data set's order."""
    ds = as_dataset(dataset)
    if gt_rule not in _GT_RULES:
        raise ArnetError(E_INVALID, "gt_rule %r must be 'truncate' or 'pad-last'" % (gt_rule,))
    opt = new_struct(EvalOptions)
    opt.gt_rule = _GT_RULES[gt_rule]
    put(opt, "clip_frames", clip_frames)
    put(opt, "far_threshold", far_threshold)
    res = new_struct(EvalResult)
    with model._use() as mp, ds._use() as dp:
        lib.arnet_evaluate_ex(mp, dp, ctypes.byref(opt), ctypes.byref(res))
    try:
        out = {"auc": res.auc, "ap": res.ap, "pr_auc": res.pr_auc, "far": res.far,
               "auc_abnormal": res.auc_abnormal, "frames": int(res.frames),
               "videos": int(res.videos), "anomalous_videos": int(res.anomalous_videos),
               "gt_rule": _GT_NAMES.get(res.gt_rule, res.gt_rule)}
        per = []
        for i in range(res.n_per_video):
            v = res.per_video[i]
            per.append({"name": v.name.decode("utf-8", "replace") if v.name else "",
                        "label": v.label, "n_clips": int(v.n_clips),
                        "n_frames": int(v.n_frames), "auc": v.auc, "far": v.far,
                        "max_score": v.max_score, "mean_score": v.mean_score})
        out["per_video"] = per
        return out
    finally:
        lib.arnet_eval_result_free(ctypes.byref(res))


CROP_EACH = -2
_LAYOUTS = {"auto": 0, "tcf": 1, "ctf": 2}


def layout_code(layout):
    """ARNET_LAYOUT_* for "auto", "tcf" or "ctf"."""
    try:
        return _LAYOUTS[layout]
    except (KeyError, TypeError):
        raise ArnetError(E_INVALID, "layout %r must be 'auto', 'tcf' or 'ctf'" % (layout,))


def is_crop_count(n):
    return n in (5, 10)


def crop_axis(shape, layout="auto"):
    """Which axis of a rank-3 [A, B, F] array holds the crops (1 for
    [T, C, F], 0 for [C, T, F]) by the library's rule: B a crop count (5 or
    10) and A not is [T, C, F]; A one and B not is refused (layout "ctf");
    both must be told; neither is [T, C, F]."""
    code = layout_code(layout)
    if code:
        return 1 if code == 1 else 0
    a, b = shape[0], shape[1]
    if is_crop_count(a) and is_crop_count(b):
        raise ArnetError(E_FORMAT, "shape (%d, %d, F) is ambiguous: either axis could be the "
                         "crops; say which (layout='tcf' for [T, C, F], layout='ctf' for "
                         "[C, T, F])" % (a, b))
    if is_crop_count(a):
        raise ArnetError(E_FORMAT, "shape (%d, %d, F) looks crop-first ([C, T, F]); pass "
                         "layout='ctf' (--layout ctf), or layout='tcf' if it really is %d "
                         "clips of %d crops" % (a, b, a, b))
    return 1


def read_npy(path, crop=-1, layout="auto"):
    """A feature .npy file ([T, F] or [T, C, F], any float dtype and order)
    as T x F float32 (numpy array or list of lists); crop -1 averages;
    layout as Dataset.from_manifest's."""
    opt = new_struct(NpyOptions)
    put(opt, "crop", crop)
    opt.layout = layout_code(layout)
    data = ctypes.c_void_p()
    rows = ctypes.c_size_t()
    cols = ctypes.c_uint32()
    lib.arnet_npy_read(encode_path(path), ctypes.byref(opt), ctypes.byref(data),
                       ctypes.byref(rows), ctypes.byref(cols))
    try:
        return _buffers.floats_from_pointer(data.value, rows.value * cols.value,
                                            (rows.value, cols.value))
    finally:
        lib.arnet_free(data)


def read_npy_labels(path):
    """A 1-D .npy file of any bool/int/float dtype as 0/1 labels."""
    data = ctypes.c_void_p()
    n = ctypes.c_size_t()
    lib.arnet_npy_read_labels(encode_path(path), ctypes.byref(data), ctypes.byref(n))
    try:
        return _buffers.labels_from_pointer(data.value, n.value)
    finally:
        lib.arnet_free(data)


def write_npy(path, data, shape=None):
    """Write float32 data atomically as a .npy file.  shape defaults to the
    data's own (numpy arrays, 2-D sequences) or its length."""
    if shape is None:
        shape = getattr(data, "shape", None)
        if shape is None:
            try:
                shape = (len(data), len(data[0])) if _buffers._is_row(data[0]) else (len(data),)
            except (TypeError, IndexError):
                shape = (len(data),)
    shape = [c_int_arg(s, "shape[%d]" % i, ctypes.c_size_t) for i, s in enumerate(shape)]
    v = _buffers.as_float_vector(data, "data")
    total = 1
    for s in shape:
        total *= s
    if total != v.n:
        raise ArnetError(E_SHAPE, "shape %r needs %d values, data holds %d"
                         % (tuple(shape), total, v.n))
    c_shape = (ctypes.c_size_t * max(len(shape), 1))(*shape)
    lib.arnet_npy_write(encode_path(path), ctypes.c_void_p(v.ptr), c_shape, len(shape))
