"""model.py -- arnet.Model: create, load, save and score an AR-Net model, its
parameters and its key/value metadata (arnet_model_* in arnet.h).
"""
import ctypes

try:
    from collections.abc import MutableMapping
except ImportError:  # pragma: no cover
    from collections import MutableMapping

from . import _buffers
from ._lib import (E_INVALID, E_STATE, ArnetError, Handle, ModelConfig, SaveOptions,
                   FileInfo, encode_path, lib, new_struct, require, short_float32,
                   using, put)

_STORAGE = {"f32": 0, "f16": 1}


def _reduce_crops(x, crop, layout):
    """A rank-3 crop array as T x F: crop `crop`, or the crops' mean summed
    in double in crop order and rounded once (arnet_npy_read's floats).
    Anything else is returned as it is."""
    from .data import crop_axis
    np = _buffers.np
    if np is not None and isinstance(x, np.ndarray):
        if x.ndim != 3:
            return x
        axis = crop_axis(x.shape, layout)
        x = x if axis == 1 else x.transpose(1, 0, 2)
        n = x.shape[1]
        if crop >= 0:
            if crop >= n:
                raise ArnetError(E_INVALID, "crop %d out of range: %d crops" % (crop, n))
            return np.ascontiguousarray(x[:, crop, :], dtype=np.float32)
        acc = np.zeros((x.shape[0], x.shape[2]), dtype=np.float64)
        for c in range(n):
            acc += x[:, c, :].astype(np.float32).astype(np.float64)
        return (acc / n).astype(np.float32)
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)) and x[0] \
            and isinstance(x[0][0], (list, tuple)):
        shape = (len(x), len(x[0]))
        axis = crop_axis(shape, layout)
        if axis == 0:
            x = [[x[c][t] for c in range(shape[0])] for t in range(shape[1])]
        n = len(x[0])
        if crop >= 0:
            if crop >= n:
                raise ArnetError(E_INVALID, "crop %d out of range: %d crops" % (crop, n))
            return [row[crop] for row in x]
        out = []
        for row in x:
            f = len(row[0])
            acc = [0.0] * f
            for c in range(n):
                r = row[c]
                for j in range(f):
                    acc[j] += ctypes.c_float(r[j]).value
            out.append([a / n for a in acc])
        return out
    return x


def _storage_code(storage):
    try:
        return _STORAGE[storage]
    except (KeyError, TypeError):
        raise ArnetError(E_INVALID, "storage %r must be 'f32' or 'f16'" % (storage,))


def _save_options(storage, compression_level):
    opt = new_struct(SaveOptions)
    opt.storage = _storage_code(storage)
    if compression_level is not None:
        put(opt, "compression_level", compression_level)
    return opt


class Model(object):
    """An AR-Net model (two fully connected layers, sigmoid output).

    Model(feature_dim=2048, seed=1, hidden_dim=0, dropout=0.7) creates one
    with Xavier-initialised weights (hidden_dim 0 = feature_dim, as in the
    paper).  The C model is freed by close(), at the end of a ``with`` block
    or when the object is garbage collected; a Scorer or Trainer using it
    keeps the memory alive until it is closed too.
    """

    def __init__(self, feature_dim=2048, seed=1, hidden_dim=0, dropout=0.7):
        cfg = new_struct(ModelConfig)
        put(cfg, "feature_dim", feature_dim)
        put(cfg, "hidden_dim", hidden_dim)
        put(cfg, "dropout", dropout)
        put(cfg, "seed", seed)
        out = ctypes.c_void_p()
        lib.arnet_model_create(ctypes.byref(cfg), ctypes.byref(out))
        self._h = Handle(out.value, "arnet_model_free", "Model")

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        self._h = Handle(ptr, "arnet_model_free", "Model")
        return self

    # -- files and bytes ---------------------------------------------------
    @classmethod
    def load(cls, path):
        """Load a checkpoint written by save() (or a trainer checkpoint)."""
        out = ctypes.c_void_p()
        require("arnet_model_load")(encode_path(path), ctypes.byref(out))
        return cls._wrap(out.value)

    @classmethod
    def from_bytes(cls, data):
        """Load a model from checkpoint bytes (any buffer, e.g. to_bytes())."""
        fn = require("arnet_model_load_buffer")
        mv = memoryview(data).cast("B")
        buf = (ctypes.c_char * max(mv.nbytes, 1)).from_buffer_copy(
            mv if mv.nbytes else b"\0")
        out = ctypes.c_void_p()
        fn(ctypes.addressof(buf), mv.nbytes, ctypes.byref(out))
        return cls._wrap(out.value)

    def save(self, path, storage="f32", compression_level=None):
        """Save atomically; storage 'f16' halves the size (scores within 1e-3)."""
        opt = _save_options(storage, compression_level)
        fn = require("arnet_model_save_ex")
        with self._use() as p:
            fn(p, encode_path(path), ctypes.byref(opt))

    def to_bytes(self, storage="f32", compression_level=None):
        """The checkpoint file's bytes, without touching the disk."""
        opt = _save_options(storage, compression_level)
        buf = ctypes.c_void_p()
        size = ctypes.c_size_t()
        fn = require("arnet_model_save_buffer")
        with self._use() as p:
            fn(p, ctypes.byref(opt), ctypes.byref(buf), ctypes.byref(size))
        try:
            return ctypes.string_at(buf.value, size.value)
        finally:
            lib.arnet_free(buf)

    # -- shape and configuration --------------------------------------------
    @property
    def feature_dim(self):
        with self._use() as p:
            return int(lib.arnet_model_feature_dim(p))

    @property
    def hidden_dim(self):
        with self._use() as p:
            return int(lib.arnet_model_hidden_dim(p))

    @property
    def config(self):
        """dict: feature_dim, hidden_dim (resolved), dropout, seed."""
        cfg = new_struct(ModelConfig)
        with self._use() as p:
            lib.arnet_model_get_config(p, ctypes.byref(cfg))
        return {"feature_dim": cfg.feature_dim, "hidden_dim": cfg.hidden_dim,
                "dropout": short_float32(cfg.dropout), "seed": cfg.seed}

    @property
    def dropout(self):
        return self.config["dropout"]

    # -- scoring -------------------------------------------------------------
    def score(self, features, crop=-1, layout="auto"):
        """One score in [0, 1] per clip: features is n_clips x feature_dim
        (2-D numpy array, buffer or sequence of sequences; a flat 1-D input
        is read row after row), or a [T, C, F] ten- or five-crop array as
        `arnet score` reads it: crop -1 averages the crops (in double, as the
        library's reader: the same floats), else takes crop `crop`; layout
        "auto" applies the crop-axis rule (docs/data.md), "tcf"/"ctf" say.
        Returns a float32 numpy array, or a list of floats without numpy.
        float32 C-contiguous 2-D arrays are not copied."""
        features = _reduce_crops(features, crop, layout)
        m = _buffers.as_float_matrix(features, self.feature_dim)
        out, addr = _buffers.new_floats(m.rows)
        if m.rows:
            with self._use() as p:
                lib.arnet_model_score(p, ctypes.c_void_p(m.ptr), m.rows, ctypes.c_void_p(addr))
        return _buffers.float_result(out, m.rows)

    __call__ = score

    # -- parameters ----------------------------------------------------------
    def get_params(self):
        """Copies of the weights: dict w1 (hidden x feature), b1 (hidden),
        w2 (hidden), b2 (float).  numpy arrays, or lists without numpy."""
        f, h = self.feature_dim, self.hidden_dim
        w1, a1 = _buffers.new_floats(h * f)
        b1, ab1 = _buffers.new_floats(h)
        w2, a2 = _buffers.new_floats(h)
        b2 = ctypes.c_float()
        with self._use() as p:
            lib.arnet_model_get_params(p, ctypes.c_void_p(a1), ctypes.c_void_p(ab1),
                                       ctypes.c_void_p(a2), ctypes.byref(b2))
        return {"w1": _buffers.float_result(w1, h * f, (h, f)),
                "b1": _buffers.float_result(b1, h), "w2": _buffers.float_result(w2, h),
                "b2": float(b2.value)}

    def set_params(self, w1=None, b1=None, w2=None, b2=None):
        """Copy new weights in (None keeps a tensor).  Not while other threads
        score with this model."""
        f, h = self.feature_dim, self.hidden_dim
        keep = []

        def ptr(value, n, name):
            if value is None:
                return None
            v = _buffers.as_float_vector(value, name)
            if v.n != n:
                from ._lib import E_SHAPE
                raise ArnetError(E_SHAPE, "%s holds %d values, expected %d" % (name, v.n, n))
            keep.append(v.keep)
            return ctypes.c_void_p(v.ptr)

        args = (ptr(w1, h * f, "w1"), ptr(b1, h, "b1"), ptr(w2, h, "w2"), ptr(b2, 1, "b2"))
        with self._use() as p:
            lib.arnet_model_set_params(p, *args)

    # -- metadata ------------------------------------------------------------
    @property
    def meta(self):
        """Dict-like view of the model's metadata (str keys and values,
        insertion order; assignment and del write through)."""
        return Meta(self)

    def get_meta(self, key, default=None):
        with self._use() as p:
            value = lib.arnet_model_get_meta(p, _key(key))
            value = None if value is None else bytes(value)
        return default if value is None else value.decode("utf-8", "replace")

    def set_meta(self, key, value):
        """Set (or with value None remove) one metadata entry."""
        with self._use() as p:
            lib.arnet_model_set_meta(p, _key(key),
                                     None if value is None else str(value).encode("utf-8"))

    # -- lifetime ------------------------------------------------------------
    def _use(self):
        """Hold the C model for one call (closing waits for the call's end)."""
        return using(self, "Model")

    def close(self):
        """Free the C model now (later if a Scorer or Trainer still uses it)."""
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
            return "<arnet.Model closed>"
        return "<arnet.Model feature_dim=%d hidden_dim=%d>" % (self.feature_dim,
                                                               self.hidden_dim)


def _key(key):
    if not isinstance(key, str):
        raise TypeError("metadata keys are str, got %s" % type(key).__name__)
    return key.encode("utf-8")


class Meta(MutableMapping):
    """The metadata of one Model as a mutable mapping of str to str."""

    def __init__(self, model):
        self._model = model

    def __getitem__(self, key):
        value = self._model.get_meta(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        if value is None:
            raise TypeError("metadata values are str; use del to remove a key")
        self._model.set_meta(key, value)

    def __delitem__(self, key):
        if self._model.get_meta(key) is None:
            raise KeyError(key)
        self._model.set_meta(key, None)

    def __iter__(self):
        keys = []
        k = ctypes.c_char_p()
        v = ctypes.c_char_p()
        with self._model._use() as ptr:
            for i in range(lib.arnet_model_meta_count(ptr)):
                lib.arnet_model_meta_at(ptr, i, ctypes.byref(k), ctypes.byref(v))
                keys.append(k.value.decode("utf-8", "replace"))
        return iter(keys)

    def __len__(self):
        with self._model._use() as p:
            return int(lib.arnet_model_meta_count(p))

    def __repr__(self):
        return "Meta(%r)" % dict(self.items())


def file_info(path):
    """What a checkpoint file says about itself (dict), without loading it."""
    info = new_struct(FileInfo)
    require("arnet_file_info_read")(encode_path(path), ctypes.byref(info))
    out = {name: getattr(info, name) for name, _ in FileInfo._fields_
           if name != "struct_size"}
    out["dropout"] = short_float32(out["dropout"])
    out["storage"] = {0: "f32", 1: "f16"}.get(out["storage"], out["storage"])
    return out
