"""trainer.py -- arnet.Trainer: the paper's training loop (DMIL + center
loss, Adam) over a Dataset, one step at a time, with resumable checkpoints
(arnet_trainer_* in arnet.h).
"""
import ctypes
import threading
from collections import namedtuple

from ._lib import (E_INVALID, E_STATE, ArnetError, Handle, StepStats, TrainOptions, lib,
                   encode_path, new_struct, require, short_float32, using, put, c_int_arg)
from .data import _busy, as_dataset

_LOSSES = {"dmil-center": 0, "dmil": 1, "kmax-mil": 2}
_REDUCE = {"video": 0, "instance": 1}

# Python name -> TrainOptions field; 'lam' and 'lambda_' both set lambda.
_OPTION_FIELDS = {
    "normal_per_batch": "normal_per_batch", "anomalous_per_batch": "anomalous_per_batch",
    "alpha": "alpha", "lam": "lambda_", "lambda_": "lambda_", "lr": "lr",
    "beta1": "beta1", "beta2": "beta2", "eps": "eps", "weight_decay": "weight_decay",
    "max_clips": "max_clips", "seed": "seed", "threads": "threads",
    "iterations": "iterations",
}

Stats = namedtuple("Stats", "step loss loss_dmil loss_center")
Stats.__doc__ = """Losses of one training step: step is the number of steps
done after it; loss the total, loss_dmil the DMIL (or k-max MIL) part,
loss_center the center loss before lambda."""


def train_options(**options):
    """A TrainOptions struct from arnet_train_options_init with options
    applied (unknown names raise TypeError)."""
    opt = new_struct(TrainOptions)
    for name, value in options.items():
        if name == "loss":
            if value not in _LOSSES:
                raise ArnetError(E_INVALID, "loss %r must be one of %s"
                                 % (value, ", ".join(sorted(_LOSSES))))
            opt.loss = _LOSSES[value]
        elif name == "reduce":
            if value not in _REDUCE:
                raise ArnetError(E_INVALID, "reduce %r must be 'video' or 'instance'"
                                 % (value,))
            opt.reduce = _REDUCE[value]
        elif name in _OPTION_FIELDS:
            put(opt, _OPTION_FIELDS[name], value, name)
        else:
            raise TypeError("unknown training option %r (known: %s)"
                            % (name, ", ".join(sorted(list(_OPTION_FIELDS) +
                                                      ["loss", "reduce"]))))
    return opt


class Trainer(object):
    """Trains a Model in place.

    Trainer(model, dataset=None, **options): options are the fields of
    arnet_train_options (normal_per_batch, anomalous_per_batch, alpha,
    lam / lambda_, lr, beta1, beta2, eps, weight_decay, max_clips,
    loss='dmil-center'|'dmil'|'kmax-mil', reduce='video'|'instance', seed,
    threads, iterations), with the paper's defaults.  The data set (a
    Dataset or manifest path) is given here or to the first fit(); the
    model and data set are kept alive while the trainer lives.  Do not score
    with the model from other threads while training."""

    def __init__(self, model, dataset=None, **options):
        self._opt = train_options(**options)
        self.model = model
        self.dataset = None
        self._source = None
        self._h = None
        self._lock = threading.Lock()
        if dataset is not None:
            self._bind(dataset)

    @property
    def options(self):
        """The options in effect (dict of field -> value)."""
        out = {}
        for name, _ in TrainOptions._fields_:
            if name in ("struct_size", "progress", "progress_user"):
                continue
            value = getattr(self._opt, name)
            if isinstance(value, float):
                value = short_float32(value)
            out["lambda" if name == "lambda_" else name] = value
        out["loss"] = {v: k for k, v in _LOSSES.items()}.get(out["loss"], out["loss"])
        out["reduce"] = {v: k for k, v in _REDUCE.items()}.get(out["reduce"], out["reduce"])
        return out

    def _bind(self, dataset):
        if self._h is not None and (dataset is self.dataset or
                                    (self._source is not None and dataset == self._source)):
            return
        ds = as_dataset(dataset)
        if self._h is not None:
            raise ArnetError(E_STATE, "this Trainer already trains on another data set; "
                             "make a new Trainer for a new one")
        fn = require("arnet_trainer_create")
        out = ctypes.c_void_p()
        with self.model._use() as mp, ds._use() as dp:
            fn(mp, dp, ctypes.byref(self._opt), ctypes.byref(out))
            # The C trainer borrows both: hold them until it is freed.
            self._h = Handle(out.value, "arnet_trainer_free", "Trainer",
                             deps=[self.model._h, ds._h])
        self.dataset = ds
        self._source = None if ds is dataset else dataset

    def _use(self):
        """Hold the C trainer (and so its model and data set) for one call."""
        if self._h is None and not getattr(self, "_closed", False):
            raise ArnetError(E_STATE, "the Trainer has no data set yet: pass one to "
                             "Trainer(model, dataset) or fit(dataset)")
        return using(self, "Trainer")

    @property
    def steps(self):
        """Steps done so far (restored ones included)."""
        if self._h is None:
            return 0
        with self._use() as p:
            return int(lib.arnet_trainer_steps(p))

    def step(self):
        """One optimisation step on a freshly drawn batch; returns Stats."""
        st = new_struct(StepStats)
        with _busy(self), self._use() as p:
            lib.arnet_trainer_step(p, ctypes.byref(st))
        return Stats(int(st.step), st.loss, st.loss_dmil, st.loss_center)

    def fit(self, dataset=None, iterations=None, progress=None):
        """Step until `iterations` steps are done in total (default: the
        iterations option, 4760), counting restored steps, as `arnet train
        --resume` does.  progress(stats, total) is called after each step;
        a true return value stops early (fit then returns normally).
        Returns the last step's Stats (None when no step was needed)."""
        if dataset is not None:
            self._bind(dataset)
        total = self._opt.iterations if iterations is None else \
            c_int_arg(iterations, "iterations", ctypes.c_uint64)
        last = None
        while self.steps < total:
            last = self.step()
            if progress is not None and progress(last, total):
                break
        return last

    def save(self, path):
        """Checkpoint the model and the trainer state (Adam moments, step
        count, generator state) atomically; Model.load reads it too."""
        with self._use() as p:
            lib.arnet_trainer_save(p, encode_path(path))

    def restore(self, path):
        """Load weights and trainer state saved by save(): resuming gives
        exactly the weights of an uninterrupted run."""
        with _busy(self), self._use() as p:
            lib.arnet_trainer_restore(p, encode_path(path))

    def close(self):
        h, self._h = self._h, None
        self._closed = True
        if h is not None:
            h.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
