"""trainer.py -- arnet.Trainer: the paper's training loop (DMIL + center
loss, Adam) over a Dataset, one step at a time, with resumable checkpoints,
evaluation every N steps, the best model kept and resuming from a file: the
library's training run (arnet_run_* and arnet_trainer_* in arnet.h).
"""
import ctypes
import threading
from collections import namedtuple

from ._lib import (E_CANCELLED, E_INVALID, E_STATE, PROGRESS_FN, RUN_EVAL_FN, ArnetError,
                   Handle, RunInfo, RunOptions, StepStats, TrainOptions, c_int_arg, lib,
                   encode_path, new_struct, put, require, short_float32, using)
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

    Trainer(model, dataset=None, test=None, keep_best=None, eval_every=0,
    out=None, save_every=0, on_eval=None, **options): options are the fields
    of arnet_train_options (normal_per_batch, anomalous_per_batch, alpha,
    lam / lambda_, lr, beta1, beta2, eps, weight_decay, max_clips,
    loss='dmil-center'|'dmil'|'kmax-mil', reduce='video'|'instance', seed,
    threads, iterations), with the paper's defaults.  The data set (a
    Dataset or manifest path) is given here or to the first fit(); the
    model and data sets are kept alive while the trainer lives.

    With a test set (Dataset or manifest path), fit() evaluates every
    eval_every steps and at the end, calling on_eval(dict) (step, auc, far,
    best_step, best_auc, best_far, is_best, final; a true return value stops
    early), and keep_best names a file that always holds the model with the
    best test AUC.  out names a checkpoint written every save_every steps and
    at the end of fit(); Trainer.resume(out) goes on from it.  Do not score
    with the model from other threads while training."""

    _RUN_KEYS = ("test", "keep_best", "eval_every", "out", "save_every", "on_eval")

    def __init__(self, model, dataset=None, **options):
        run = {k: options.pop(k) for k in self._RUN_KEYS if k in options}
        self._opt = train_options(**options)
        self.model = model
        self.dataset = None
        self.test = None
        self._source = None
        self._h = None
        self._lock = threading.Lock()
        self._run_args = run
        self._setup_callbacks(run.get("on_eval"))
        if dataset is not None:
            self._bind(dataset)

    def _setup_callbacks(self, on_eval):
        self._progress = None
        self._on_eval = on_eval
        self._last = None
        self._exc = None

        def step_cb(_user, stats, total):
            st = stats.contents
            self._last = Stats(int(st.step), st.loss, st.loss_dmil, st.loss_center)
            return self._call(self._progress, self._last, int(total))

        def eval_cb(_user, ev):
            e = ev.contents
            return self._call(self._on_eval, dict(
                step=int(e.step), auc=e.auc, far=e.far, best_step=int(e.best_step),
                best_auc=e.best_auc, best_far=e.best_far, is_best=bool(e.is_best),
                final=bool(e.final)))

        # Kept on the object: the C run calls them while it lives.
        self._c_progress = PROGRESS_FN(step_cb)
        self._c_eval = RUN_EVAL_FN(eval_cb)

    def _call(self, fn, *args):
        """A Python callback from C: its exception stops the run and is
        raised again by fit()."""
        if fn is None or self._exc is not None:
            return 1 if self._exc is not None else 0
        try:
            return 1 if fn(*args) else 0
        except BaseException as e:  # re-raised once the C call returns
            self._exc = e
            return 1

    def _run_options(self):
        ro = new_struct(RunOptions)
        ro.train = ctypes.pointer(self._opt)
        ro.progress = self._c_progress
        ro.on_eval = self._c_eval
        a = self._run_args
        for key in ("out", "keep_best"):
            if a.get(key) is not None:
                setattr(ro, key, encode_path(a[key]))
        for key in ("eval_every", "save_every"):
            if a.get(key):
                put(ro, key, a[key])
        return ro

    def _attach(self, ro, deps):
        """Test set of the run options (a Dataset, or a manifest path,
        recorded in the checkpoint for resuming)."""
        test = self._run_args.get("test")
        if test is not None:
            ts = as_dataset(test)
            if ts is not test:
                ro.test_manifest = encode_path(test)
            self.test = ts
            deps.append(ts._h)

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
        fn = require("arnet_run_start")
        ro = self._run_options()
        deps = [self.model._h, ds._h]
        self._attach(ro, deps)
        if ds is not dataset:
            ro.train_manifest = encode_path(dataset)
        out = ctypes.c_void_p()
        with self.model._use() as mp, ds._use() as dp:
            ro.model_in = mp
            ro.train_set = dp
            tp = self.test._use() if self.test is not None else None
            try:
                if tp is not None:
                    ro.test_set = tp.__enter__()
                fn(ctypes.byref(ro), ctypes.byref(out))
            finally:
                if tp is not None:
                    tp.__exit__(None, None, None)
            # The C run borrows model and data sets: hold them until it is freed.
            self._h = Handle(out.value, "arnet_run_free", "Trainer", deps=deps)
        self.dataset = ds
        self._source = None if ds is dataset else dataset

    @classmethod
    def resume(cls, path, dataset=None, iterations=None, threads=None, **run):
        """Go on with the run checkpointed in path (by fit() with out=, save(),
        or `arnet train`): weights, Adam state, step count and every training
        setting come from the file, and so do, unless given, the data sets
        (the manifests it records), out (path itself), keep_best, eval_every
        and save_every; iterations and threads may change.  The best test
        AUC recorded goes on when the test set is the recorded one."""
        for key in run:
            if key not in cls._RUN_KEYS:
                raise TypeError("unknown resume option %r (known: dataset, iterations, "
                                "threads, %s)" % (key, ", ".join(cls._RUN_KEYS)))
        from .model import Model
        model = Model.load(path)
        self = cls.__new__(cls)
        self._opt = new_struct(TrainOptions)
        self.model = model
        self.dataset = None
        self.test = None
        self._source = None
        self._h = None
        self._lock = threading.Lock()
        self._run_args = run
        self._setup_callbacks(run.get("on_eval"))
        given = new_struct(TrainOptions)
        put(given, "iterations", iterations or 0)
        put(given, "threads", threads or 0)
        ro = self._run_options()
        ro.train = ctypes.pointer(given)
        deps = [model._h]
        self._attach(ro, deps)
        ds = None
        if dataset is not None:
            ds = as_dataset(dataset)
            if ds is not dataset:
                ro.train_manifest = encode_path(dataset)
            deps.append(ds._h)
        out = ctypes.c_void_p()
        with model._use() as mp:
            ro.model_in = mp
            holds = [h._use() for h in (ds, self.test) if h is not None]
            try:
                ptrs = [u.__enter__() for u in holds]
                if ds is not None:
                    ro.train_set = ptrs[0]
                if self.test is not None:
                    ro.test_set = ptrs[-1]
                require("arnet_run_resume")(encode_path(path), ctypes.byref(ro),
                                            ctypes.byref(out))
            finally:
                for u in holds:
                    u.__exit__(None, None, None)
            self._h = Handle(out.value, "arnet_run_free", "Trainer", deps=deps)
        self.dataset = ds
        with self._use() as p:
            lib.arnet_trainer_get_options(lib.arnet_run_trainer(p), ctypes.byref(self._opt))
        return self

    def _use(self):
        """Hold the C run (and so its trainer, model and data sets) for one call."""
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
            return int(lib.arnet_trainer_steps(lib.arnet_run_trainer(p)))

    @property
    def info(self):
        """The run's settings in effect and its evaluations: dict with
        train_manifest, test_manifest, out, keep_best (None when unset),
        eval_every, save_every, steps, iterations, resumed, evaluated and,
        once evaluated, eval_step, eval_auc, eval_far, best_step, best_auc,
        best_far."""
        info = new_struct(RunInfo)
        with self._use() as p:
            require("arnet_run_get_info")(p, ctypes.byref(info))
        d = {}
        for name, _ in RunInfo._fields_:
            if name == "struct_size":
                continue
            v = getattr(info, name)
            d[name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        d["resumed"], d["evaluated"] = bool(d["resumed"]), bool(d["evaluated"])
        if not d["evaluated"]:
            for k in ("eval_step", "eval_auc", "eval_far", "best_step", "best_auc",
                      "best_far"):
                d.pop(k)
        return d

    def step(self):
        """One optimisation step on a freshly drawn batch; returns Stats."""
        st = new_struct(StepStats)
        with _busy(self), self._use() as p:
            lib.arnet_trainer_step(lib.arnet_run_trainer(p), ctypes.byref(st))
        return Stats(int(st.step), st.loss, st.loss_dmil, st.loss_center)

    def fit(self, dataset=None, iterations=None, progress=None):
        """Step until `iterations` steps are done in total (default: the
        iterations option, 4760), counting restored steps, as `arnet train
        --resume` does; evaluate, keep the best and checkpoint as the
        Trainer was told.  progress(stats, total) is called after each step;
        a true return value (or one from on_eval) stops early (fit then
        returns normally).  Returns the last step's Stats (None when no step
        was needed)."""
        if dataset is not None:
            self._bind(dataset)
        total = self._opt.iterations if iterations is None else \
            c_int_arg(iterations, "iterations", ctypes.c_uint64)
        self._progress, self._last, self._exc = progress, None, None
        try:
            with _busy(self), self._use() as p:
                lib.arnet_run_set_iterations(p, total)
                try:
                    lib.arnet_run_continue(p)
                except ArnetError as e:
                    if e.status != E_CANCELLED:
                        raise
            if self._exc is not None:
                raise self._exc
        finally:
            self._progress, exc, self._exc = None, self._exc, None
            del exc
        return self._last

    def save(self, path=None):
        """Checkpoint the model and the trainer state (Adam moments, step
        count, generator state, the run's settings) atomically; Model.load
        reads it too.  path None: the out file the Trainer was given."""
        with self._use() as p:
            if path is None:
                lib.arnet_run_save(p)
            else:
                lib.arnet_trainer_save(lib.arnet_run_trainer(p), encode_path(path))

    def restore(self, path):
        """Load weights and trainer state saved by save(): resuming gives
        exactly the weights of an uninterrupted run."""
        with _busy(self), self._use() as p:
            lib.arnet_trainer_restore(lib.arnet_run_trainer(p), encode_path(path))

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
