"""two_stream.py -- arnet.TwoStream: AR-Net's two-stream I3D features (RGB
and TV-L1 optical flow, 2048 values per crop) from video frames, one camera
per object (arnet_two_stream_* in arnet.h; docs/extractor.md, "Two streams",
docs/python.md).  Needs numpy.
"""
import ctypes
import os
import re
import threading

from . import _buffers
from ._lib import (E_INVALID, E_STATE, ArnetError, ExtractorOptions, Frame, Handle, lib,
                   new_struct, put, require)
from .data import _busy
from .extractor import _FILTER, _RESIZE, Extractor, _choice, frame_of, load_network
from .flow import flow_options as _flow_options

# The C enums' names (ARNET_FLOW_AT_*, ARNET_FLOW_VALUES_*, ARNET_FLOW_CHANNELS_*)
# in lower case; q8-raw is also `arnet extract --flow-values`' spelling.
_FLOW_AT = {"crop": 0, "size": 1}
_FLOW_VALUES = {"float": 0, "q8": 1, "q8_raw": 2, "q8-raw": 2}
_FLOW_CHANNELS = {"xy": 0, "xx": 1}
_SIZE = re.compile(r"^([0-9]+)x([0-9]+)$")


def _np():
    if not _buffers.HAVE_NUMPY:
        raise ArnetError(E_INVALID, "arnet.TwoStream needs numpy (frames are numpy arrays)")
    return _buffers.np


class TwoStream(object):
    """One camera's two-stream I3D features, as AR-Net's ("I3D_Conc"): per
    clip and crop, the RGB network's 1024 values, then the flow network's on
    the clip's TV-L1 flows.

    TwoStream(rgb, flow, width=None, height=None, crops=1, resize="short256",
              filter="bilinear", threads=1, flow_at="crop", flow_width=None,
              flow_height=None, flow_values="float", flow_bound=20.0,
              flow_channels="xy", flow_preset="opencv", flow_exact=None,
              flow_threads=None, flow_options=None, torch=False)

    rgb, flow: the RGB and the optical-flow I3D, each an extractor file
    (`arnet import i3d`; PyTorch weights with torch=True) or an
    arnet.Extractor already loaded (its network is shared, not copied).
    Either given as the other is InvalidArgumentError with the library's
    message naming the file.  width, height: the camera's frame size; the
    state (every buffer) is made now when given, else for the first frame
    pushed (and reset() then forgets the size).  crops, resize, filter and
    threads as arnet.Extractor's.  The recipe (docs/extractor.md,
    "Recipes"): flow_at "crop" (on the RGB stream's resized, cropped frames)
    or "size" with flow_width x flow_height (or "WxH", e.g. "320x240");
    flow_values "float", "q8" or "q8_raw" ("q8-raw"); flow_bound in pixels;
    flow_channels "xy" or "xx".  TV-L1: flow_preset "opencv" or "cuda",
    flow_exact (None or True: OpenCV's arithmetic, its bits; False: the
    faster float arithmetic),
    flow_threads (None: threads, as `arnet extract`), and flow_options, a
    dict of other arnet_flow_options fields (tau, lam, ..., as arnet.Flow's
    keywords).

    push(frame) returns None, or when the frame completes a clip its
    feature: float32 [feature_dim] (2048) with one crop, [10, 2048] with
    ten.  A video of N frames gives (N - 1) // 16 clips.  One thread at a
    time per TwoStream, except cancel()."""

    def __init__(self, rgb, flow, width=None, height=None, crops=1, resize="short256",
                 filter="bilinear", threads=1, flow_at="crop", flow_width=None, flow_height=None,
                 flow_values="float", flow_bound=20.0, flow_channels="xy", flow_preset="opencv",
                 flow_exact=None, flow_threads=None, flow_options=None, torch=False):
        np = _np()
        self._np = np
        self._nets = None
        self._state = None
        require("arnet_two_stream_state_create")
        # Every argument is checked before the first C call that can fail.
        opt = new_struct(ExtractorOptions)
        put(opt, "crops", crops)
        if opt.crops not in (1, 10):
            raise ArnetError(E_INVALID, "crops %d is not 1 or 10" % opt.crops)
        opt.resize = _choice(_RESIZE, resize, "resize")
        opt.filter = _choice(_FILTER, filter, "filter")
        put(opt, "threads", threads)
        if isinstance(flow_at, str) and _SIZE.match(flow_at):
            if flow_width is not None or flow_height is not None:
                raise ArnetError(E_INVALID, "flow_at %r gives the flow size: flow_width and "
                                 "flow_height go with flow_at='size'" % flow_at)
            flow_width, flow_height = (int(v) for v in _SIZE.match(flow_at).groups())
            flow_at = "size"
        if not isinstance(flow_at, str) or flow_at not in _FLOW_AT:
            raise ArnetError(E_INVALID, "flow_at %r is not one of crop, size or 'WxH' (e.g. "
                             "'320x240')" % (flow_at,))
        opt.flow_at = _FLOW_AT[flow_at]
        if flow_at == "size":
            for name, v in (("flow_width", flow_width), ("flow_height", flow_height)):
                if v is None:
                    raise ArnetError(E_INVALID, "flow_at='size' needs %s (and %s)" % (
                        name, "flow_height" if name == "flow_width" else "flow_width"))
            put(opt, "flow_width", flow_width)
            put(opt, "flow_height", flow_height)
        elif flow_width is not None or flow_height is not None:
            raise ArnetError(E_INVALID, "flow_width and flow_height go with flow_at='size', "
                             "not flow_at=%r" % flow_at)
        opt.flow_values = _choice(_FLOW_VALUES, flow_values, "flow_values")
        put(opt, "flow_bound", flow_bound)
        opt.flow_channels = _choice(_FLOW_CHANNELS, flow_channels, "flow_channels")
        fields = dict(flow_options or {})
        for name, value in (("exact", flow_exact), ("threads", flow_threads)):
            if name in fields:
                raise TypeError("flow_%s given twice (as flow_%s and in flow_options)"
                                % (name, name))
            if value is not None:
                fields[name] = value
        fields.setdefault("threads", opt.threads)
        if "exact" in fields and isinstance(fields["exact"], bool):
            fields["exact"] = int(fields["exact"])
        self._fopt = _flow_options(flow_preset, fields, "flow_")
        if (width is None) != (height is None):
            raise ArnetError(E_INVALID, "width and height go together (the frame size), "
                             "got width=%r, height=%r" % (width, height))
        if width is not None:
            put(opt, "frame_width", width, "width")
            put(opt, "frame_height", height, "height")
        self._opt = opt
        self._fixed = width is not None
        self._settings = dict(crops=crops, resize=resize, filter=filter, threads=threads,
                              flow_at=flow_at, flow_width=flow_width, flow_height=flow_height,
                              flow_values=flow_values, flow_bound=flow_bound,
                              flow_channels=flow_channels, flow_preset=flow_preset)
        # The networks: loaded here, or held from the Extractors given.
        nets = []
        try:
            for x in (rgb, flow):
                if isinstance(x, Extractor):
                    net = x._net
                    if net is None:
                        raise ArnetError(E_STATE, "the Extractor is closed")
                else:
                    net = load_network(x, torch)
                net.hold()
                nets.append(net)
        except BaseException:
            for net in nets:
                net.release()
            raise
        self._nets = nets
        self._paths = tuple(x._path if isinstance(x, Extractor) else os.fspath(x)
                            for x in (rgb, flow))
        self._lock = threading.Lock()          # one push/reset at a time
        self._state_lock = threading.Lock()    # _state against cancel()
        self._cancel_pending = False
        self._frame = new_struct(Frame)
        self._ready = ctypes.c_int(0)
        dims = []
        streams = []
        for net in nets:
            with net.handle.use() as p:
                dims.append(int(lib.arnet_extractor_feature_dim(p)))
                streams.append(int(lib.arnet_extractor_stream(p)))
        self.feature_dim = sum(dims)
        self.crops = int(opt.crops)
        self.clip_frames = int(opt.clip_frames)
        self._out = np.empty((self.crops, self.feature_dim), np.float32)
        try:
            if self._fixed:
                self._create()
            elif streams != [0, 1]:
                # A mix-up is the library's to say; no frame size yet, so
                # ask with a nominal one (the library checks the streams
                # before anything is allocated).
                probe = ExtractorOptions.from_buffer_copy(opt)
                probe.frame_width = probe.frame_height = 224
                self._create(probe)
        except ArnetError as e:
            self.close()
            if e.status != E_INVALID or streams == [0, 1]:
                raise
            # The library names the weights the file was imported from (its
            # recorded source); say which argument and file it was here too.
            role = "rgb" if streams[0] != 0 else "flow"
            raise ArnetError(E_INVALID, "%s=%r: %s" % (role, self._paths[role == "flow"],
                                                       e.message), e.function) from None
        except BaseException:
            self.close()
            raise

    # -- the C state ----------------------------------------------------------
    def _create(self, opt=None):
        """Make the C state for self._opt's frame size (probe: other options,
        the state freed at once)."""
        out = ctypes.c_void_p()
        handles = [net.handle for net in self._nets]
        with handles[0].use() as rp, handles[1].use() as fp:
            lib.arnet_two_stream_state_create(rp, fp, ctypes.byref(opt or self._opt),
                                              ctypes.byref(self._fopt), ctypes.byref(out))
            # The state borrows both networks: held until it is freed.
            st = Handle(out.value, "arnet_two_stream_state_free", "TwoStream", deps=handles)
        if opt is not None:
            st.close()
            return
        with self._state_lock:
            self._state = st
            if self._cancel_pending:
                self._cancel_pending = False
                with st.use() as sp:
                    lib.arnet_two_stream_cancel(sp)
        with st.use() as sp:
            self.feature_dim = int(lib.arnet_two_stream_feature_dim(sp))

    def _ensure_state(self, height, width):
        """The state's handle, made for this frame size if there is none."""
        if self._nets is None:
            raise ArnetError(E_STATE, "the TwoStream is closed")
        st = self._state
        if st is None:  # (a frame of another size later: the library's E_SHAPE)
            self._opt.frame_width = width
            self._opt.frame_height = height
            self._create()
            st = self._state
        if st is None:
            raise ArnetError(E_STATE, "the TwoStream is closed")
        return st

    def _result(self):
        r = self._out.copy()
        return r[0] if self.crops == 1 else r

    # -- frames ---------------------------------------------------------------
    def push(self, frame, bgr=False):
        """Take one [H, W, 3] uint8 frame (RGB, or BGR with bgr=True): the
        clip's feature when this frame completes one ([feature_dim], or
        [10, feature_dim] with ten crops), else None.  A frame of another
        size than the state's is ArnetError E_SHAPE; after an error of the
        flow or a network (E_CANCELLED after cancel()) the partial clip is
        dropped and the next frame starts a new video."""
        with _busy(self):
            a = frame_of(self._np, self._frame, frame, bgr)
            st = self._ensure_state(a.shape[0], a.shape[1])
            with st.use() as sp:
                lib.arnet_two_stream_push(sp, ctypes.byref(self._frame),
                                          ctypes.c_void_p(self._out.ctypes.data),
                                          ctypes.byref(self._ready))
            del a
            return self._result() if self._ready.value else None

    def extract(self, frames, bgr=False):
        """Features of a whole video: frames [N, H, W, 3] uint8 (or any
        iterable of [H, W, 3] frames) -> float32 [(N - 1) // 16,
        feature_dim] (or [T, 10, feature_dim]), as `arnet extract
        --extractor RGB --flow-extractor FLOW --frames` writes them.  Starts
        from a new video and leaves one."""
        np = self._np
        self.reset()
        out = []
        try:
            for f in frames:
                r = self.push(f, bgr)
                if r is not None:
                    out.append(r)
        finally:
            self.reset()
        shape = (0, self.feature_dim) if self.crops == 1 else (0, self.crops, self.feature_dim)
        return np.stack(out) if out else np.zeros(shape, np.float32)

    def reset(self):
        """A new video: drop the partial clip and the previous frame.  When
        no width and height were given, also forget the frame size (the
        state is made again for the next frame)."""
        with _busy(self):
            st = self._state
            if st is None:
                return
            if self._fixed:
                with st.use() as sp:
                    lib.arnet_two_stream_reset(sp)
            else:
                with self._state_lock:
                    self._state = None
                st.close()

    def cancel(self):
        """Ask a push running on another thread to stop: it raises ArnetError
        E_CANCELLED, the partial clip dropped.  A request made while no push
        runs stops the next push.  Any thread may call it."""
        with self._state_lock:
            st = self._state
            if st is None:
                if self._nets is not None:
                    self._cancel_pending = True
                return
            with st.use() as sp:
                lib.arnet_two_stream_cancel(sp)

    @property
    def memory(self):
        """Bytes the state holds (frames, flows, clip buffer, the TV-L1
        state, the networks' shared scratch; not the networks), 0 before the
        state is made."""
        st = self._state
        if st is None:
            return 0
        with st.use() as sp:
            return int(lib.arnet_two_stream_state_memory(sp))

    @property
    def frame_size(self):
        """(width, height) of the state's frames, None before the first."""
        if self._state is None and not self._fixed:
            return None
        return (int(self._opt.frame_width), int(self._opt.frame_height))

    @property
    def options(self):
        """The settings in effect (as given; flow_at 'WxH' as 'size' with
        flow_width and flow_height)."""
        return dict(self._settings)

    # -- lifetime -------------------------------------------------------------
    def close(self):
        """Free the state, and each network once no Extractor or TwoStream
        shares it (each at the end of a call still running on another
        thread)."""
        with getattr(self, "_state_lock", threading.Lock()):
            st, self._state = getattr(self, "_state", None), None
        if st is not None:
            st.close()
        nets, self._nets = getattr(self, "_nets", None), None
        for net in nets or ():
            net.release()

    @property
    def closed(self):
        return getattr(self, "_nets", None) is None

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
            return "<arnet.TwoStream closed>"
        return "<arnet.TwoStream feature_dim=%d crops=%d rgb=%r flow=%r>" % (
            self.feature_dim, self.crops, self._paths[0], self._paths[1])
