"""scoring.py -- arnet.Scorer (scratch memory for scoring with one model, no
allocation per call) and arnet.Stream (one camera: smoothing, alarm
hysteresis, events through a Python callback); arnet_scorer_* and
arnet_stream_* in arnet.h.
"""
import ctypes
import math
import threading
from collections import namedtuple

from . import _buffers
from ._lib import (E_INVALID, E_SHAPE, E_STATE, EVENT_FN, ArnetError, Handle,
                   ScorerOptions, StreamOptions, StreamResult, StreamState, lib, new_struct,
                   using, put, c_float_arg, require, short_float32)
from .data import _busy

EVENT_START = 1
EVENT_END = 2
_EVENT_NAMES = {0: None, EVENT_START: "start", EVENT_END: "end"}
_SMOOTHING = {"none": 0, "window": 1, "ema": 2}

Event = namedtuple("Event", "type stream_id start_clip end_clip peak_score "
                   "start_seconds end_seconds")
Event.__doc__ = """An alarm event: type 'start' or 'end', the stream's id, the
alarm's first clip, its last clip (end events; else 0), the peak smoothed
score so far, and, when the stream knows its fps, the seconds from the
stream's first frame where start_clip begins and where end_clip ends (None
without fps; end_seconds None on start events).  Clip c covers
[c, c + 1) x clip_frames / fps seconds."""

StreamResult_ = namedtuple("StreamResult", "clip_index raw smoothed alarm event")
StreamResult_.__doc__ = """What one pushed clip did: its index, raw and
smoothed score, whether an alarm is on after it and the event it raised
('start', 'end' or None)."""


class Scorer(object):
    """Scores batches with one Model through preallocated memory.

    Scorer(model, max_batch=256, threads=1).  The model is kept alive while
    the scorer lives.  One thread at a time per scorer (a second concurrent
    call raises ArnetError E_STATE); give each thread its own scorer: they
    may share one model."""

    def __init__(self, model, max_batch=256, threads=1):
        opt = new_struct(ScorerOptions)
        put(opt, "max_batch", max_batch)
        put(opt, "threads", threads)
        out = ctypes.c_void_p()
        with model._use() as mp:
            lib.arnet_scorer_create(mp, ctypes.byref(opt), ctypes.byref(out))
            # The C scorer borrows the model: hold it until the scorer is freed.
            self._h = Handle(out.value, "arnet_scorer_free", "Scorer", deps=[model._h])
        self.model = model
        self.feature_dim = model.feature_dim
        self._lock = threading.Lock()

    def score(self, features):
        """As Model.score (same values to 1e-6, bit-identical across batch
        sizes and threads)."""
        m = _buffers.as_float_matrix(features, self.feature_dim)
        out, addr = _buffers.new_floats(m.rows)
        if m.rows:
            with _busy(self), self._use() as p:
                lib.arnet_scorer_score(p, ctypes.c_void_p(m.ptr), m.rows, ctypes.c_void_p(addr))
        return _buffers.float_result(out, m.rows)

    __call__ = score

    @property
    def memory(self):
        """Bytes the scorer holds (not counting the model)."""
        with self._use() as p:
            return int(lib.arnet_scorer_memory(p))

    def push_streams(self, streams, features):
        """Score one clip for each stream in one matrix product (row i of
        features belongs to streams[i]) and update them all: a list of
        StreamResult, events delivered to each stream's on_event."""
        streams = list(streams)
        n = len(streams)
        m = _buffers.as_float_matrix(features, self.feature_dim)
        if m.rows != n:
            raise ArnetError(E_SHAPE, "%d feature rows for %d streams" % (m.rows, n))
        if n == 0:
            return []
        if len(set(id(s) for s in streams)) != n:
            raise ArnetError(E_INVALID, "a stream is listed twice")
        results = (StreamResult * n)()
        for r in results:
            lib.arnet_stream_result_init(ctypes.byref(r))
            r.struct_size = ctypes.sizeof(StreamResult)
        held = []
        try:
            for obj in [self] + streams:
                b = _busy(obj)
                b.__enter__()
                held.append(b)
            ptrs = []
            for obj in [self] + streams:
                u = obj._use()
                ptrs.append(u.__enter__())
                held.append(u)
            arr = (ctypes.c_void_p * n)(*ptrs[1:])
            lib.arnet_scorer_push_streams(ptrs[0], arr, ctypes.c_void_p(m.ptr), n, results)
        finally:
            for b in reversed(held):
                b.__exit__(None, None, None)
        for s in streams:
            s._raise_pending()
        return [_result(r) for r in results]

    def _use(self):
        """Hold the C scorer (and so its model) for one call."""
        return using(self, "Scorer")

    def close(self):
        """Free the scorer (at the end of a call still running on another
        thread), then release its hold on the model."""
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            h.close()
            self.model = None

    @property
    def closed(self):
        return getattr(self, "_h", None) is None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _result(r):
    return StreamResult_(int(r.clip_index), r.raw, r.smoothed, bool(r.alarm),
                         _EVENT_NAMES.get(r.event, r.event))


_STREAM_OPTIONS = ("window", "ema_alpha", "on_threshold", "off_threshold", "min_on_clips",
                   "min_off_clips", "fps", "clip_frames")


class Stream(object):
    """One camera's score stream with smoothing and alarm hysteresis.

    Stream(on_event=None, stream_id=0, smoothing='window'|'ema'|'none',
    window=5, ema_alpha=0.3, on_threshold=0.5, off_threshold=0.3,
    min_on_clips=3, min_off_clips=5, fps=0 (unknown), clip_frames=16,
    model=None).  With a calibrated model (`arnet calibrate --write`), its
    calibration gives the defaults (arnet_stream_options_from_model):
    on_threshold = calibration.threshold, off_threshold = 0.6 x that, fps =
    calibration.fps; arguments given explicitly still win.  With fps, events
    carry seconds.  on_event(Event) is called synchronously from
    update()/push() on the calling thread; an exception it raises is
    re-raised from that call once the C call has returned (the stream's state
    then includes the clip).  It must not use this stream."""

    def __init__(self, on_event=None, stream_id=0, smoothing="window", window=None,
                 ema_alpha=None, on_threshold=None, off_threshold=None, min_on_clips=None,
                 min_off_clips=None, fps=None, clip_frames=None, model=None):
        if smoothing not in _SMOOTHING:
            raise ArnetError(E_INVALID, "smoothing %r must be 'none', 'window' or 'ema'"
                             % (smoothing,))
        given = dict(window=window, ema_alpha=ema_alpha, on_threshold=on_threshold,
                     off_threshold=off_threshold, min_on_clips=min_on_clips,
                     min_off_clips=min_off_clips, fps=fps, clip_frames=clip_frames)
        opt = new_struct(StreamOptions)
        put(opt, "stream_id", stream_id)
        opt.smoothing = _SMOOTHING[smoothing]
        for name, value in given.items():
            if value is not None:  # checked before any C call
                put(opt, name, value)
        if model is not None:
            with model._use() as mp:
                require("arnet_stream_options_from_model")(mp, ctypes.byref(opt))
            for name, value in given.items():
                if value is not None:
                    put(opt, name, value)
        self.options = {"stream_id": int(opt.stream_id), "smoothing": smoothing}
        for name in _STREAM_OPTIONS:
            value = getattr(opt, name)
            self.options[name] = short_float32(value) if isinstance(value, float) and \
                dict(StreamOptions._fields_)[name] is ctypes.c_float else value
        self.on_event = on_event
        self._pending = None
        # The C stream keeps the function pointer: this object must outlive it.
        self._callback = EVENT_FN(self._deliver)
        opt.on_event = self._callback
        opt.user = None
        out = ctypes.c_void_p()
        lib.arnet_stream_create(ctypes.byref(opt), ctypes.byref(out))
        self._h = Handle(out.value, "arnet_stream_free", "Stream")
        self.stream_id = int(opt.stream_id)
        self.fps = float(opt.fps)
        self.clip_frames = int(opt.clip_frames)
        self._lock = threading.Lock()

    def _deliver(self, user, ev):
        if self.on_event is None or self._pending is not None:
            return
        e = ev.contents
        try:
            self.on_event(Event(_EVENT_NAMES.get(e.type, e.type), int(e.stream_id),
                                int(e.start_clip), int(e.end_clip), e.peak_score,
                                _seconds(e.start_seconds), _seconds(e.end_seconds)))
        except BaseException as exc:  # ctypes would print and drop it
            self._pending = exc

    def _raise_pending(self):
        exc, self._pending = self._pending, None
        if exc is not None:
            raise exc

    def update(self, raw_score):
        """Feed one already computed score; returns a StreamResult."""
        res = _new_result()
        with _busy(self), self._use() as p:
            lib.arnet_stream_update(p, c_float_arg(raw_score, "raw_score"), ctypes.byref(res))
        self._raise_pending()
        return _result(res)

    def push(self, scorer, feature):
        """Score one clip feature (feature_dim values) with scorer and update."""
        v = _buffers.as_float_vector(feature, "feature")
        if v.n != scorer.feature_dim:
            raise ArnetError(E_SHAPE, "feature holds %d values, the scorer's model takes %d"
                             % (v.n, scorer.feature_dim))
        res = _new_result()
        with _busy(self), _busy(scorer), self._use() as p, scorer._use() as sp:
            lib.arnet_stream_push(p, sp, ctypes.c_void_p(v.ptr), ctypes.byref(res))
        self._raise_pending()
        return _result(res)

    def reset(self):
        """Back to the state right after creation (an open alarm is dropped
        without an end event)."""
        with _busy(self), self._use() as p:
            lib.arnet_stream_reset(p)

    @property
    def state(self):
        """dict: clips, alarm, alarm_start, peak_score, last_raw,
        last_smoothed, run_length, alarms."""
        st = new_struct(StreamState)
        with self._use() as p:
            lib.arnet_stream_get_state(p, ctypes.byref(st))
        return {"clips": int(st.clips), "alarm": bool(st.alarm),
                "alarm_start": int(st.alarm_start), "peak_score": st.peak_score,
                "last_raw": st.last_raw, "last_smoothed": st.last_smoothed,
                "run_length": int(st.run_length), "alarms": int(st.alarms)}

    def _use(self):
        """Hold the C stream for one call."""
        return using(self, "Stream")

    def close(self):
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


def _seconds(x):
    """C's NaN (no fps, or no end yet) as None: comparable, and plainly absent."""
    return None if math.isnan(x) else x


def _new_result():
    res = new_struct(StreamResult)
    return res
