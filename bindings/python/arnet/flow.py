"""flow.py -- arnet.Flow: TV-L1 optical flow between two grey frames, the
input of the optical-flow I3D (arnet_flow_* in arnet.h).  Needs numpy.
"""
import ctypes
import threading

from . import _buffers
from ._lib import (E_INVALID, E_SHAPE, ArnetError, FlowOptions, Handle, c_int_arg, lib,
                   new_struct, put, require, using)
from .data import _busy

_PRESETS = {"opencv": 0, "cuda": 1}
_OPTION_FIELDS = ("tau", "lambda_", "theta", "epsilon", "scale_step", "gamma", "scales",
                  "warps", "inner_iterations", "outer_iterations", "median_filtering",
                  "threads", "exact")


def flow_options(preset="opencv", options=None, prefix=""):
    """An arnet_flow_options: the preset's parameters ('opencv', OpenCV's CPU
    defaults, or 'cuda', its CUDA twin), then the given fields (tau, lam /
    lambda_, ..., threads, exact), each checked against its C type.  prefix
    names the arguments in messages ("flow_" for arnet.TwoStream)."""
    if preset not in _PRESETS:
        raise ArnetError(E_INVALID, "%spreset %r must be 'opencv' or 'cuda'" % (prefix, preset))
    opt = new_struct(FlowOptions)
    require("arnet_flow_options_preset")(ctypes.byref(opt), _PRESETS[preset])
    for name, value in (options or {}).items():
        field = "lambda_" if name in ("lam", "lambda_") else name
        if field not in _OPTION_FIELDS:
            raise TypeError("unknown flow option %r (known: %s)"
                            % (prefix + name,
                               ", ".join(prefix + f.rstrip("_") for f in _OPTION_FIELDS)))
        put(opt, field, value, prefix + name)
    return opt


class Flow(object):
    """TV-L1 optical flow for frames of width x height, as OpenCV's
    DualTVL1OpticalFlow computes it (docs/extractor.md).

    Flow(width, height, preset='opencv'|'cuda', **options): options are the
    fields of arnet_flow_options (tau, lam / lambda_, theta, epsilon,
    scale_step, gamma, scales, warps, inner_iterations, outer_iterations,
    median_filtering, threads, exact), applied over the preset.  Every buffer is
    allocated here; compute() allocates only its result.  One thread at a
    time per Flow."""

    def __init__(self, width, height, preset="opencv", **options):
        self._np = _buffers.np
        if self._np is None:
            raise ImportError("arnet.Flow needs numpy")
        opt = flow_options(preset, options)
        self.width = c_int_arg(width, "width", ctypes.c_uint32)
        self.height = c_int_arg(height, "height", ctypes.c_uint32)
        out = ctypes.c_void_p()
        require("arnet_flow_create")(self.width, self.height, ctypes.byref(opt),
                                     ctypes.byref(out))
        self._h = Handle(out.value, "arnet_flow_free", "Flow")
        self._lock = threading.Lock()

    def compute(self, prev, next):
        """The flow from prev to next: float32 [height, width, 2], x then y
        in pixels, next(x + fx, y + fy) ~ prev(x, y).  Frames are grey
        [height, width]: uint8 (0..255), or floats in [0, 1] (OpenCV's scale
        for float frames; NaN or infinity refused)."""
        np = self._np
        frames = [np.asarray(f) for f in (prev, next)]
        for name, f in zip(("prev", "next"), frames):
            if f.shape != (self.height, self.width):
                raise ArnetError(E_SHAPE, "%s is %s, this Flow takes grey frames of %d x %d "
                                 "(height x width)" % (name, f.shape, self.height, self.width))
            _buffers._check_numpy_kind(f, name)
        if all(f.dtype == np.uint8 for f in frames):
            frames = [np.ascontiguousarray(f) for f in frames]
            fn, stride = "arnet_flow_compute", self.width
        else:
            frames = [_buffers._as_float32(f, name) for name, f in zip(("prev", "next"), frames)]
            fn, stride = "arnet_flow_compute_f32", self.width
        out = np.empty((self.height, self.width, 2), np.float32)
        with _busy(self), self._use() as p:
            require(fn)(p, ctypes.c_void_p(frames[0].ctypes.data), stride,
                        ctypes.c_void_p(frames[1].ctypes.data), stride,
                        ctypes.c_void_p(out.ctypes.data))
        return out

    @property
    def memory(self):
        """Bytes the flow state holds."""
        with self._use() as p:
            return int(lib.arnet_flow_memory(p))

    def _use(self):
        return using(self, "Flow")

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
