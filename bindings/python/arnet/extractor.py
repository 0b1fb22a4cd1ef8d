"""extractor.py -- arnet.Extractor: I3D clip features from video frames
(arnet_extractor_* in arnet.h; docs/extractor.md, docs/python.md).

Frames go in as numpy uint8 arrays ([N, H, W, 3] or one [H, W, 3] RGB frame,
any row stride), features come out as float32 arrays: [T, 1024] for a whole
video, or one [1024] ([10, 1024] with ten crops) per completed 16-frame clip
from push().  Needs numpy.
"""
import ctypes
import os
import threading

from . import _buffers
from ._lib import (E_INVALID, E_SHAPE, E_STATE, ArnetError, ExtractorOptions, Frame, Handle,
                   encode_path, has, lib, new_struct, require, using, put, c_int_arg)
from .data import _busy

_RESIZE = {"short256": 0, "340x256": 1, "224x224": 2, "none": 3}
_LAST_CLIP = {"drop": 0, "pad": 1}
_FILTER = {"bilinear": 0, "lanczos": 1}
PIXEL_RGB24 = 1
PIXEL_BGR24 = 2


def _np():
    if not _buffers.HAVE_NUMPY:
        raise ArnetError(E_INVALID, "arnet.Extractor needs numpy (frames are numpy arrays)")
    return _buffers.np


def frame_of(np, f, frame, bgr=False):
    """Point the arnet_frame f at one [H, W, 3] uint8 frame (RGB, or BGR):
    the array to keep alive for the C call (a packed copy when its pixels
    are not packed; strided rows are taken as they are)."""
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ArnetError(E_INVALID, "frames must be uint8, got %s" % a.dtype)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ArnetError(E_SHAPE, "a frame must be [H, W, 3], got %s" % (a.shape,))
    if a.strides[1] != 3 or a.strides[2] != 1 or a.strides[0] < 3 * a.shape[1]:
        a = np.ascontiguousarray(a)  # pixels must be packed; rows may be strided
    f.format = PIXEL_BGR24 if bgr else PIXEL_RGB24
    f.width = a.shape[1]
    f.height = a.shape[0]
    f.planes[0] = a.ctypes.data
    f.strides[0] = a.strides[0]
    return a


class _Network(object):
    """The loaded network, shared by the Extractors made with share(): its
    handle is closed when the last of them closes (and freed once no call or
    per-camera state uses it any more)."""

    def __init__(self, handle):
        self.handle = handle
        self.holders = 0
        self.lock = threading.Lock()

    def hold(self):
        with self.lock:
            if self.holders < 0:
                raise ArnetError(E_STATE, "the Extractor's network is closed")
            self.holders += 1

    def release(self):
        with self.lock:
            self.holders -= 1
            last = self.holders == 0
            if last:
                self.holders = -1
        if last:
            self.handle.close()


def load_network(path, torch=False):
    """An extractor file (or with torch=True PyTorch I3D weights) loaded,
    as a _Network no Extractor holds yet."""
    out = ctypes.c_void_p()
    fn = "arnet_extractor_load_torch" if torch else "arnet_extractor_load"
    require(fn)(encode_path(os.fspath(path)), ctypes.byref(out))
    return _Network(Handle(out.value, "arnet_extractor_free", "Extractor"))


def _choice(table, value, name):
    if value not in table:
        raise ArnetError(E_INVALID, "%s %r is not one of %s" % (name, value,
                                                                ", ".join(sorted(table))))
    return table[value]


class Extractor(object):
    """One camera's feature extractor.

    Extractor(path, crops=1, resize="short256", filter="bilinear",
              last_clip="drop", threads=1, torch=False)

    path is an extractor file (`arnet import i3d`), or with torch=True a
    PyTorch I3D state dict read directly (nothing executed).  crops 1 (centre
    crop) or 10; resize "short256", "340x256", "224x224" or "none"; filter
    "bilinear" or "lanczos"; last_clip "drop" or "pad" (what flush() does
    with a partial clip); threads: threads working on each clip.

    extract(frames) turns a whole video into features; push(frame) and
    flush() follow a camera frame by frame.  The per-camera state is sized
    for the first frame pushed (every later frame must have its size; reset()
    forgets it).  One thread at a time per Extractor; share() makes another
    Extractor on the same loaded network for another thread or camera."""

    def __init__(self, path, crops=1, resize="short256", filter="bilinear", last_clip="drop",
                 threads=1, torch=False, _shared=None):
        np = _np()
        self._np = np
        if _shared is not None:
            net = _shared
        else:
            net = load_network(path, torch)
        net.hold()
        self._net = net
        self._h = net.handle
        self._path = path
        self._opt = new_struct(ExtractorOptions)
        put(self._opt, "crops", crops)
        if self._opt.crops not in (1, 10):
            raise ArnetError(E_INVALID, "crops %d is not 1 or 10" % self._opt.crops)
        self._opt.resize = _choice(_RESIZE, resize, "resize")
        self._opt.filter = _choice(_FILTER, filter, "filter")
        self._opt.last_clip = _choice(_LAST_CLIP, last_clip, "last_clip")
        put(self._opt, "threads", threads)
        self._settings = dict(crops=crops, resize=resize, filter=filter, last_clip=last_clip,
                              threads=threads)
        with self._use() as p:
            self.feature_dim = int(lib.arnet_extractor_feature_dim(p))
            # 'rgb' (3 channels in) or 'flow' (2: TV-L1 flow x, y); files
            # from before the flow network are RGB.
            self.stream = "flow" if has("arnet_extractor_stream") and \
                lib.arnet_extractor_stream(p) == 1 else "rgb"
        self.clip_frames = int(self._opt.clip_frames)
        self._state = None
        self._size = None
        self._lock = threading.Lock()
        self._frame = new_struct(Frame)
        self._ready = ctypes.c_int(0)
        self._out = np.empty((self._opt.crops, self.feature_dim), np.float32)

    def share(self, **settings):
        """Another Extractor on the same loaded network (no second copy of
        the weights), with these settings or new ones: one per camera/thread."""
        s = dict(self._settings)
        s.update(settings)
        if self.closed:
            raise ArnetError(E_STATE, "the Extractor is closed")
        return Extractor(self._path, _shared=self._net, **s)

    # -- frames -------------------------------------------------------------
    def _frame_of(self, frame, bgr=False):
        return frame_of(self._np, self._frame, frame, bgr)

    def _ensure_state(self, height, width):
        if self._state is not None:
            if self._size != (height, width):
                raise ArnetError(E_SHAPE, "frame is %dx%d but this camera's frames are %dx%d "
                                 "(reset() to start over at another size)"
                                 % (width, height, self._size[1], self._size[0]))
            return
        self._opt.frame_width = width
        self._opt.frame_height = height
        out = ctypes.c_void_p()
        with self._use() as p:
            lib.arnet_extractor_state_create(p, ctypes.byref(self._opt), ctypes.byref(out))
            # The C state borrows the network: hold it until the state is freed.
            self._state = Handle(out.value, "arnet_extractor_state_free", "Extractor",
                                 deps=[self._h])
        self._size = (height, width)

    def _result(self):
        r = self._out.copy()
        return r[0] if self._opt.crops == 1 else r

    def push(self, frame, bgr=False):
        """Take one [H, W, 3] uint8 frame (RGB, or BGR with bgr=True, as
        OpenCV gives them): the clip's features when it completes one
        ([feature_dim], or [10, feature_dim]), else None."""
        with _busy(self):
            a = self._frame_of(frame, bgr)
            self._ensure_state(a.shape[0], a.shape[1])
            with using(self, "Extractor"), self._state.use() as sp:
                lib.arnet_extractor_push(sp, ctypes.byref(self._frame),
                                         ctypes.c_void_p(self._out.ctypes.data),
                                         ctypes.byref(self._ready))
            del a
            return self._result() if self._ready.value else None

    def flush(self):
        """End of the video: the padded last clip's features (last_clip="pad"
        and a partial clip pending), else None.  The state is then empty."""
        with _busy(self):
            if self._state is None:
                return None
            with using(self, "Extractor"), self._state.use() as sp:
                lib.arnet_extractor_flush(sp, ctypes.c_void_p(self._out.ctypes.data),
                                          ctypes.byref(self._ready))
            return self._result() if self._ready.value else None

    def reset(self):
        """Drop any partial clip and forget the frame size."""
        with _busy(self):
            if self._state is not None:
                self._state.close()
            self._state = None
            self._size = None

    def extract(self, frames, bgr=False):
        """Features of a whole video: frames [N, H, W, 3] uint8 (or any
        iterable of [H, W, 3] frames) -> float32 [T, feature_dim] (or
        [T, 10, feature_dim]); T = N // 16 (+1 with last_clip="pad").
        Starts from an empty state and leaves one."""
        np = self._np
        self.reset()
        out = []
        try:
            for f in frames:
                r = self.push(f, bgr)
                if r is not None:
                    out.append(r)
            r = self.flush()
            if r is not None:
                out.append(r)
        finally:
            self.reset()
        shape = (0, self.feature_dim) if self._opt.crops == 1 else (0, 10, self.feature_dim)
        return np.stack(out) if out else np.zeros(shape, np.float32)

    def clips(self, clips, threads=None):
        """Features of preprocessed clips: float32 [n, T, H, W, C] in [-1, 1]
        (already resized and cropped; C = 3 for an RGB network, 2 for a flow
        one: flow x, y scaled to [-1, 1]) -> [n, feature_dim].  NaN or
        infinite values are refused (ArnetError naming the clip and the
        value), as Model.score refuses them."""
        np = self._np
        channels = 2 if self.stream == "flow" else 3
        c = np.asarray(clips)
        _buffers._check_numpy_kind(c, "clips")
        c = _buffers._as_float32(c, "clips")
        if c.ndim != 5 or c.shape[4] != channels or min(c.shape) < 1:
            raise ArnetError(E_SHAPE, "clips must be [n, T, H, W, %d] for this %s network, "
                             "got %s" % (channels, self.stream, c.shape))
        out = np.empty((c.shape[0], self.feature_dim), np.float32)
        with self._use() as p:
            lib.arnet_extractor_clips(p, ctypes.c_void_p(c.ctypes.data), c.shape[0],
                                      c.shape[1], c.shape[2], c.shape[3],
                                      self._opt.threads if threads is None
                                      else c_int_arg(threads, "threads"),
                                      ctypes.c_void_p(out.ctypes.data))
        return out

    @property
    def memory(self):
        """Bytes the per-camera state holds (0 before the first frame)."""
        st = self._state
        if st is None:
            return 0
        with st.use() as sp:
            return int(lib.arnet_extractor_state_memory(sp))

    # -- lifetime -----------------------------------------------------------
    def _use(self):
        """Hold the network for one call (closing waits for the call's end)."""
        return using(self, "Extractor")

    def close(self):
        """Free the state and the network once no other Extractor shares it
        (each at the end of a call still running on another thread)."""
        st, self._state = getattr(self, "_state", None), None
        if st is not None:
            st.close()
        net, self._h = getattr(self, "_net", None), None
        self._net = None
        if net is not None:
            net.release()

    @property
    def closed(self):
        return getattr(self, "_h", None) is None

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self.closed:
            return "<arnet.Extractor closed>"
        return "<arnet.Extractor feature_dim=%d crops=%d>" % (self.feature_dim,
                                                              self._opt.crops)
