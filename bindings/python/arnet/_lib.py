"""_lib.py -- finds and loads libarnet, declares every C prototype and struct
mirror in one place, and turns negative status codes into ArnetError.

Nothing here adds logic the C library lacks: the other modules wrap these
prototypes thinly.  Functions a given build of the library does not export
(a part still being written) are simply absent from ``lib``; calling the
Python wrapper of one raises NotImplementedError naming the C function.
"""
import ctypes
import ctypes.util
import glob
import json
import math
import operator
import os
import threading

ABI_VERSION = 0

OK = 0
E_INVALID = -1
E_NOMEM = -2
E_IO = -3
E_FORMAT = -4
E_SHAPE = -5
E_STATE = -6
E_CANCELLED = -7

_STATUS_NAMES = {
    OK: "ok", E_INVALID: "invalid argument", E_NOMEM: "out of memory",
    E_IO: "input/output error", E_FORMAT: "malformed or unsupported file",
    E_SHAPE: "dimension mismatch", E_STATE: "call not valid now", E_CANCELLED: "cancelled",
}


class ArnetError(RuntimeError):
    """A libarnet call failed.

    ``status`` is the negative ARNET_E_* code, ``name`` its arnet_strerror()
    text and ``message`` what arnet_last_error() said on the calling thread
    right after the failing call (which file, line, argument or dimension).
    """

    def __new__(cls, status=0, *args, **kwargs):
        # Every E_INVALID is also a ValueError, whoever raises it.
        if cls is ArnetError and status == E_INVALID:
            cls = InvalidArgumentError
        return super().__new__(cls, status, *args, **kwargs)

    def __init__(self, status, message, function=None):
        self.status = int(status)
        self.name = _strerror(self.status)
        self.message = message or ""
        self.function = function
        if self.message:
            text = "%s (%s)" % (self.message, self.name)
        else:
            text = "%s: %s" % (function, self.name) if function else self.name
        super().__init__(text)


class InvalidArgumentError(ArnetError, ValueError):
    """ArnetError with status E_INVALID: an argument the C library (or the
    binding, checking the C type's range first) refuses.  Also a ValueError,
    so ``except ValueError`` catches a bad argument however it was found."""


def _error_class(status):
    return InvalidArgumentError if status == E_INVALID else ArnetError


def _strerror(status):
    if lib is not None and hasattr(lib, "arnet_strerror"):
        return lib.arnet_strerror(status).decode("utf-8", "replace")
    return _STATUS_NAMES.get(status, "unknown status")


# ---------------------------------------------------------------------------
# Finding the library
# ---------------------------------------------------------------------------

def _sanitized_build(build_dir):
    """True when meson says build_dir was configured with a sanitizer: such a
    library cannot be dlopen()ed into a plain interpreter (ASan aborts the
    process), so the search skips it."""
    path = os.path.join(build_dir, "meson-info", "intro-buildoptions.json")
    try:
        with open(path, encoding="utf-8") as f:
            options = json.load(f)
    except (OSError, ValueError):
        return False
    for opt in options:
        if opt.get("name") == "b_sanitize":
            value = opt.get("value")
            if isinstance(value, list):
                return bool(value) and value != ["none"]
            return value not in (None, "", "none")
    return False


def _source_checkout_candidates():
    """libarnet.so.0 in every build*/ folder of the source checkout this
    package sits in (bindings/python/arnet -> the repository root), newest
    first; nothing when the package was installed elsewhere."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", "..", ".."))
    if not os.path.isfile(os.path.join(root, "include", "arnet", "arnet.h")):
        return []
    found = []
    for so in glob.glob(os.path.join(root, "build*", "libarnet", "libarnet.so.0")):
        build_dir = os.path.dirname(os.path.dirname(so))
        if _sanitized_build(build_dir):
            continue
        try:
            found.append((os.path.getmtime(so), so))
        except OSError:
            continue
    found.sort(reverse=True)
    return [so for _, so in found]


def _bundled_candidates():
    """The libarnet.so.0 a wheel bundles beside these .py files
    (bindings/python/meson.build copies it there)."""
    so = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "libarnet.so.%d" % ABI_VERSION)
    return [so] if os.path.isfile(so) else []


def _candidates():
    """Where to look, in order: ARNET_LIBRARY; a source checkout's build
    folders; a libarnet the system's dynamic loader knows (installed, or on
    LD_LIBRARY_PATH); the copy bundled in the wheel; the bare SONAME."""
    env = os.environ.get("ARNET_LIBRARY")
    if env:
        # An explicit choice is final: falling back silently would hide a typo.
        return [("ARNET_LIBRARY", env)]
    out = [("build folder", so) for so in _source_checkout_candidates()]
    name = ctypes.util.find_library("arnet")
    if name:
        out.append(("system path", name))
    out += [("bundled", so) for so in _bundled_candidates()]
    out.append(("system path", "libarnet.so.%d" % ABI_VERSION))
    return out


def _load():
    tried = []
    for origin, path in _candidates():
        if os.sep in path:
            path = os.path.abspath(path)  # later chdir() must not change what we report
        try:
            handle = ctypes.CDLL(path)
        except OSError as exc:
            tried.append("%s (%s): %s" % (path, origin, exc))
            continue
        if not hasattr(handle, "arnet_abi_version"):
            tried.append("%s (%s): no arnet_abi_version symbol" % (path, origin))
            continue
        handle.arnet_abi_version.restype = ctypes.c_int
        handle.arnet_abi_version.argtypes = []
        abi = handle.arnet_abi_version()
        if abi != ABI_VERSION:
            raise ImportError(
                "arnet: %s has ABI version %d but these bindings need %d; "
                "install matching versions or point ARNET_LIBRARY at the right "
                "libarnet.so" % (path, abi, ABI_VERSION))
        return handle, path
    raise ImportError(
        "arnet: cannot load libarnet; install the package with pip (its wheel "
        "bundles the library), set ARNET_LIBRARY to the path of libarnet.so.0, "
        "build the source checkout (meson setup build && ninja -C build) or "
        "install the library.  Tried:\n  " + "\n  ".join(tried))


# ---------------------------------------------------------------------------
# Struct mirrors (exactly arnet.h's layouts; tests compare with the compiler)
# ---------------------------------------------------------------------------

c_size_t = ctypes.c_size_t
c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_int = ctypes.c_int
c_float = ctypes.c_float
c_double = ctypes.c_double
c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p


class ModelConfig(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("feature_dim", c_u32), ("hidden_dim", c_u32),
                ("dropout", c_float), ("seed", c_u64)]


class SaveOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("storage", c_int), ("compression_level", c_int)]


class FileInfo(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("format_major", c_u32), ("format_minor", c_u32),
                ("feature_dim", c_u32), ("hidden_dim", c_u32), ("dropout", c_float),
                ("storage", c_int), ("file_size", c_u64), ("n_tensors", c_u32),
                ("n_sections", c_u32), ("has_trainer", c_int)]


class ScorerOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("max_batch", c_size_t), ("threads", c_int)]


class Event(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("type", c_int), ("stream_id", c_u64),
                ("start_clip", c_u64), ("end_clip", c_u64), ("peak_score", c_float),
                ("start_seconds", ctypes.c_double), ("end_seconds", ctypes.c_double)]


EVENT_FN = ctypes.CFUNCTYPE(None, c_void_p, ctypes.POINTER(Event))


class StreamOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("stream_id", c_u64), ("smoothing", c_int),
                ("window", c_u32), ("ema_alpha", c_float), ("on_threshold", c_float),
                ("off_threshold", c_float), ("min_on_clips", c_u32),
                ("min_off_clips", c_u32), ("on_event", EVENT_FN), ("user", c_void_p),
                ("fps", ctypes.c_double), ("clip_frames", c_u32)]


class StreamResult(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("clip_index", c_u64), ("raw", c_float),
                ("smoothed", c_float), ("alarm", c_int), ("event", c_int)]


class StreamState(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("clips", c_u64), ("alarm", c_int),
                ("alarm_start", c_u64), ("peak_score", c_float), ("last_raw", c_float),
                ("last_smoothed", c_float), ("run_length", c_u32), ("alarms", c_u64)]


class NpyOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("crop", c_int), ("layout", c_int)]


class LoadOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("crop", c_int), ("feature_dim", c_u32),
                ("layout", c_int), ("mmap", c_int)]


class VideoInfo(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("label", c_int),
                ("n_clips", c_size_t), ("features", ctypes.POINTER(c_float)),
                ("n_frames", c_size_t), ("frame_labels", ctypes.POINTER(ctypes.c_uint8))]


class SynthOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("seed", c_u64), ("feature_dim", c_u32),
                ("scale", c_double)]


class EvalOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("gt_rule", c_int), ("clip_frames", c_u32),
                ("far_threshold", c_float)]


class VideoResult(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("label", c_int),
                ("n_clips", c_size_t), ("n_frames", c_size_t), ("auc", c_double),
                ("far", c_double), ("max_score", c_float), ("mean_score", c_float)]


class EvalResult(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("auc", c_double), ("ap", c_double),
                ("pr_auc", c_double), ("far", c_double), ("auc_abnormal", c_double),
                ("frames", c_u64), ("videos", c_u64), ("anomalous_videos", c_u64),
                ("gt_rule", c_int), ("n_per_video", c_size_t),
                ("per_video", ctypes.POINTER(VideoResult))]


class StepStats(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("step", c_u64), ("loss", c_double),
                ("loss_dmil", c_double), ("loss_center", c_double)]


PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(StepStats), c_u64)


class TrainOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("normal_per_batch", c_u32),
                ("anomalous_per_batch", c_u32), ("alpha", c_float), ("lambda_", c_float),
                ("lr", c_float), ("beta1", c_float), ("beta2", c_float), ("eps", c_float),
                ("weight_decay", c_float), ("max_clips", c_u32), ("loss", c_int),
                ("reduce", c_int), ("seed", c_u64), ("threads", c_int),
                ("iterations", c_u64), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p)]


class RunEval(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("step", c_u64), ("auc", c_double),
                ("far", c_double), ("best_step", c_u64), ("best_auc", c_double),
                ("best_far", c_double), ("is_best", c_int), ("final", c_int),
                ("result", ctypes.POINTER(EvalResult))]


RUN_EVAL_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(RunEval))


class RunOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("train_manifest", c_char_p),
                ("train_set", c_void_p), ("test_manifest", c_char_p), ("test_set", c_void_p),
                ("load", ctypes.POINTER(LoadOptions)), ("train", ctypes.POINTER(TrainOptions)),
                ("model", ctypes.POINTER(ModelConfig)), ("model_in", c_void_p),
                ("out", c_char_p), ("keep_best", c_char_p), ("eval_every", c_u64),
                ("save_every", c_u64), ("progress", PROGRESS_FN), ("on_eval", RUN_EVAL_FN),
                ("user", c_void_p)]


class RunInfo(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("train_manifest", c_char_p),
                ("test_manifest", c_char_p), ("out", c_char_p), ("keep_best", c_char_p),
                ("crop", c_int), ("layout", c_int), ("eval_every", c_u64),
                ("save_every", c_u64), ("steps", c_u64), ("iterations", c_u64),
                ("resumed", c_int), ("evaluated", c_int), ("eval_step", c_u64),
                ("best_step", c_u64), ("eval_auc", c_double), ("eval_far", c_double),
                ("best_auc", c_double), ("best_far", c_double)]


class Frame(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("format", c_int), ("width", c_u32),
                ("height", c_u32), ("planes", c_void_p * 3), ("strides", c_size_t * 3)]


class ExtractorOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("resize", c_int), ("crops", c_u32),
                ("last_clip", c_int), ("threads", c_int), ("clip_frames", c_u32),
                ("frame_width", c_u32), ("frame_height", c_u32), ("filter", c_int),
                ("flow_at", c_int), ("flow_width", c_u32), ("flow_height", c_u32),
                ("flow_values", c_int), ("flow_bound", c_float), ("flow_channels", c_int)]


class FlowOptions(ctypes.Structure):
    _fields_ = [("struct_size", c_size_t), ("tau", c_float), ("lambda_", c_float),
                ("theta", c_float), ("epsilon", c_float), ("scale_step", c_float),
                ("gamma", c_float), ("scales", c_u32), ("warps", c_u32),
                ("inner_iterations", c_u32), ("outer_iterations", c_u32),
                ("median_filtering", c_int), ("threads", c_int), ("exact", c_int)]


# name -> (mirror, name of its *_init function)
STRUCTS = {
    "arnet_model_config": (ModelConfig, "arnet_model_config_init"),
    "arnet_save_options": (SaveOptions, "arnet_save_options_init"),
    "arnet_file_info": (FileInfo, "arnet_file_info_init"),
    "arnet_scorer_options": (ScorerOptions, "arnet_scorer_options_init"),
    "arnet_event": (Event, None),
    "arnet_stream_options": (StreamOptions, "arnet_stream_options_init"),
    "arnet_stream_result": (StreamResult, "arnet_stream_result_init"),
    "arnet_stream_state": (StreamState, "arnet_stream_state_init"),
    "arnet_npy_options": (NpyOptions, "arnet_npy_options_init"),
    "arnet_load_options": (LoadOptions, "arnet_load_options_init"),
    "arnet_video_info": (VideoInfo, "arnet_video_info_init"),
    "arnet_synth_options": (SynthOptions, "arnet_synth_options_init"),
    "arnet_eval_options": (EvalOptions, "arnet_eval_options_init"),
    "arnet_video_result": (VideoResult, None),
    "arnet_eval_result": (EvalResult, "arnet_eval_result_init"),
    "arnet_step_stats": (StepStats, "arnet_step_stats_init"),
    "arnet_train_options": (TrainOptions, "arnet_train_options_init"),
    "arnet_run_eval": (RunEval, "arnet_run_eval_init"),
    "arnet_run_options": (RunOptions, "arnet_run_options_init"),
    "arnet_run_info": (RunInfo, "arnet_run_info_init"),
    "arnet_frame": (Frame, "arnet_frame_init"),
    "arnet_extractor_options": (ExtractorOptions, "arnet_extractor_options_init"),
    "arnet_flow_options": (FlowOptions, "arnet_flow_options_init"),
}

# Room left after each struct so that a newer library whose *_init() writes a
# longer (appended-to) struct never writes past our memory.
_STRUCT_SLACK = 256


def new_struct(cls):
    """A zeroed instance of the mirror cls, filled by its C *_init() function
    (struct_size is then set to the size these bindings know, so a newer
    library treats us as the older caller we are)."""
    init_name = _INIT_OF[cls]
    buf = ctypes.create_string_buffer(ctypes.sizeof(cls) + _STRUCT_SLACK)
    obj = cls.from_buffer(buf)
    obj._arnet_buffer = buf  # keeps the memory alive with the view
    if init_name is not None:
        require(init_name)(ctypes.byref(obj))
    obj.struct_size = ctypes.sizeof(cls)
    return obj


_INIT_OF = {cls: init for cls, init in STRUCTS.values()}


# ---------------------------------------------------------------------------
# Prototypes: (name, restype, argtypes); restype STATUS means "int status,
# raise ArnetError when negative".
# ---------------------------------------------------------------------------

STATUS = object()
P = ctypes.POINTER
c_void_pp = P(c_void_p)
c_u8_p = c_void_p  # data pointers are passed as addresses (numpy, ctypes arrays)
c_float_p = c_void_p

PROTOTYPES = [
    # versions and errors
    ("arnet_version", c_char_p, []),
    ("arnet_abi_version", c_int, []),
    ("arnet_checkpoint_format_version", c_int, []),
    ("arnet_blas_arch", c_char_p, []),
    ("arnet_strerror", c_char_p, [c_int]),
    ("arnet_last_error", c_char_p, []),
    ("arnet_clear_error", None, []),
    ("arnet_last_errno", c_int, []),
    ("arnet_free", None, [c_void_p]),
    # model
    ("arnet_model_config_init", None, [P(ModelConfig)]),
    ("arnet_model_create", STATUS, [P(ModelConfig), c_void_pp]),
    ("arnet_model_free", None, [c_void_p]),
    ("arnet_model_feature_dim", c_u32, [c_void_p]),
    ("arnet_model_hidden_dim", c_u32, [c_void_p]),
    ("arnet_model_get_config", STATUS, [c_void_p, P(ModelConfig)]),
    ("arnet_model_score", STATUS, [c_void_p, c_float_p, c_size_t, c_float_p]),
    ("arnet_model_get_params", STATUS, [c_void_p, c_float_p, c_float_p, c_float_p, c_float_p]),
    ("arnet_model_set_params", STATUS, [c_void_p, c_float_p, c_float_p, c_float_p, c_float_p]),
    ("arnet_model_set_meta", STATUS, [c_void_p, c_char_p, c_char_p]),
    ("arnet_model_get_meta", c_char_p, [c_void_p, c_char_p]),
    ("arnet_model_meta_count", c_size_t, [c_void_p]),
    ("arnet_model_meta_at", STATUS, [c_void_p, c_size_t, P(c_char_p), P(c_char_p)]),
    # checkpoints
    ("arnet_save_options_init", None, [P(SaveOptions)]),
    ("arnet_model_save", STATUS, [c_void_p, c_char_p]),
    ("arnet_model_save_ex", STATUS, [c_void_p, c_char_p, P(SaveOptions)]),
    ("arnet_model_save_buffer", STATUS, [c_void_p, P(SaveOptions), c_void_pp, P(c_size_t)]),
    ("arnet_model_load", STATUS, [c_char_p, c_void_pp]),
    ("arnet_model_load_buffer", STATUS, [c_void_p, c_size_t, c_void_pp]),
    ("arnet_file_info_init", None, [P(FileInfo)]),
    ("arnet_file_info_read", STATUS, [c_char_p, P(FileInfo)]),
    # scorer and streams
    ("arnet_scorer_options_init", None, [P(ScorerOptions)]),
    ("arnet_scorer_create", STATUS, [c_void_p, P(ScorerOptions), c_void_pp]),
    ("arnet_scorer_free", None, [c_void_p]),
    ("arnet_scorer_score", STATUS, [c_void_p, c_float_p, c_size_t, c_float_p]),
    ("arnet_scorer_memory", c_size_t, [c_void_p]),
    ("arnet_stream_options_init", None, [P(StreamOptions)]),
    ("arnet_stream_result_init", None, [P(StreamResult)]),
    ("arnet_stream_state_init", None, [P(StreamState)]),
    ("arnet_stream_create", STATUS, [P(StreamOptions), c_void_pp]),
    ("arnet_stream_options_from_model", STATUS, [c_void_p, P(StreamOptions)]),
    ("arnet_stream_free", None, [c_void_p]),
    ("arnet_stream_update", STATUS, [c_void_p, c_float, P(StreamResult)]),
    ("arnet_stream_push", STATUS, [c_void_p, c_void_p, c_float_p, P(StreamResult)]),
    ("arnet_scorer_push_streams", STATUS,
     [c_void_p, c_void_pp, c_float_p, c_size_t, P(StreamResult)]),
    ("arnet_stream_reset", STATUS, [c_void_p]),
    ("arnet_stream_get_state", STATUS, [c_void_p, P(StreamState)]),
    ("arnet_stream_memory", c_size_t, [P(StreamOptions)]),
    ("arnet_threshold_for_far", STATUS,
     [c_float_p, c_size_t, c_double, P(c_float), P(c_double)]),
    # npy files
    ("arnet_npy_options_init", None, [P(NpyOptions)]),
    ("arnet_npy_read", STATUS,
     [c_char_p, P(NpyOptions), c_void_pp, P(c_size_t), P(c_u32)]),
    ("arnet_npy_read_labels", STATUS, [c_char_p, c_void_pp, P(c_size_t)]),
    ("arnet_npy_write", STATUS, [c_char_p, c_float_p, P(c_size_t), c_int]),
    # data sets
    ("arnet_load_options_init", None, [P(LoadOptions)]),
    ("arnet_video_info_init", None, [P(VideoInfo)]),
    ("arnet_dataset_create", STATUS, [c_u32, c_void_pp]),
    ("arnet_dataset_load_manifest", STATUS, [c_char_p, P(LoadOptions), c_void_pp]),
    ("arnet_dataset_add", STATUS,
     [c_void_p, c_char_p, c_float_p, c_size_t, c_u32, c_int, c_u8_p, c_size_t]),
    ("arnet_dataset_free", None, [c_void_p]),
    ("arnet_dataset_size", c_size_t, [c_void_p]),
    ("arnet_dataset_feature_dim", c_u32, [c_void_p]),
    ("arnet_dataset_count", c_size_t, [c_void_p, c_int]),
    ("arnet_dataset_video", STATUS, [c_void_p, c_size_t, P(VideoInfo)]),
    ("arnet_synth_options_init", None, [P(SynthOptions)]),
    ("arnet_synth_create", STATUS, [P(SynthOptions), c_void_pp, c_void_pp]),
    ("arnet_synth_write", STATUS, [c_char_p, P(SynthOptions)]),
    # evaluation
    ("arnet_eval_options_init", None, [P(EvalOptions)]),
    ("arnet_eval_result_init", None, [P(EvalResult)]),
    ("arnet_eval_result_free", None, [P(EvalResult)]),
    ("arnet_evaluate", STATUS, [c_void_p, c_void_p, P(EvalResult)]),
    ("arnet_evaluate_ex", STATUS, [c_void_p, c_void_p, P(EvalOptions), P(EvalResult)]),
    # training
    ("arnet_train_options_init", None, [P(TrainOptions)]),
    ("arnet_step_stats_init", None, [P(StepStats)]),
    ("arnet_trainer_create", STATUS, [c_void_p, c_void_p, P(TrainOptions), c_void_pp]),
    ("arnet_trainer_free", None, [c_void_p]),
    ("arnet_trainer_step", STATUS, [c_void_p, P(StepStats)]),
    ("arnet_trainer_run", STATUS, [c_void_p]),
    ("arnet_trainer_steps", c_u64, [c_void_p]),
    ("arnet_trainer_save", STATUS, [c_void_p, c_char_p]),
    ("arnet_trainer_restore", STATUS, [c_void_p, c_char_p]),
    ("arnet_trainer_get_options", STATUS, [c_void_p, P(TrainOptions)]),
    ("arnet_train_options_check", STATUS, [P(TrainOptions)]),
    # training runs
    ("arnet_run_options_init", None, [P(RunOptions)]),
    ("arnet_run_eval_init", None, [P(RunEval)]),
    ("arnet_run_info_init", None, [P(RunInfo)]),
    ("arnet_run_start", STATUS, [P(RunOptions), c_void_pp]),
    ("arnet_run_resume", STATUS, [c_char_p, P(RunOptions), c_void_pp]),
    ("arnet_run_continue", STATUS, [c_void_p]),
    ("arnet_run_save", STATUS, [c_void_p]),
    ("arnet_run_set_iterations", STATUS, [c_void_p, c_u64]),
    ("arnet_run_get_info", STATUS, [c_void_p, P(RunInfo)]),
    ("arnet_run_model", c_void_p, [c_void_p]),
    ("arnet_run_trainer", c_void_p, [c_void_p]),
    ("arnet_run_train_set", c_void_p, [c_void_p]),
    ("arnet_run_test_set", c_void_p, [c_void_p]),
    ("arnet_run_free", None, [c_void_p]),
    ("arnet_loss_name", c_char_p, [c_int]),
    ("arnet_reduce_name", c_char_p, [c_int]),
    # loss kernels
    ("arnet_loss_dmil", STATUS, [c_float_p, c_size_t, c_int, c_float, P(c_float), c_float_p]),
    ("arnet_loss_center", STATUS, [c_float_p, c_size_t, c_int, P(c_float), c_float_p]),
    ("arnet_loss_kmax_mil", STATUS,
     [c_float_p, c_size_t, c_int, c_float, P(c_float), c_float_p]),
    # metrics
    ("arnet_roc_auc", STATUS, [c_float_p, c_u8_p, c_size_t, P(c_double)]),
    ("arnet_average_precision", STATUS, [c_float_p, c_u8_p, c_size_t, P(c_double)]),
    ("arnet_pr_auc", STATUS, [c_float_p, c_u8_p, c_size_t, P(c_double)]),
    # feature extraction (I3D)
    ("arnet_frame_init", None, [P(Frame)]),
    ("arnet_extractor_options_init", None, [P(ExtractorOptions)]),
    ("arnet_extractor_load", STATUS, [c_char_p, c_void_pp]),
    ("arnet_extractor_load_torch", STATUS, [c_char_p, c_void_pp]),
    ("arnet_extractor_save", STATUS, [c_void_p, c_char_p, P(SaveOptions)]),
    ("arnet_extractor_free", None, [c_void_p]),
    ("arnet_extractor_feature_dim", c_u32, [c_void_p]),
    ("arnet_extractor_stream", c_int, [c_void_p]),
    ("arnet_extractor_clips", STATUS,
     [c_void_p, c_float_p, c_size_t, c_u32, c_u32, c_u32, c_int, c_float_p]),
    ("arnet_extractor_state_create", STATUS, [c_void_p, P(ExtractorOptions), c_void_pp]),
    ("arnet_extractor_state_free", None, [c_void_p]),
    ("arnet_extractor_push", STATUS, [c_void_p, P(Frame), c_float_p, P(c_int)]),
    ("arnet_extractor_flush", STATUS, [c_void_p, c_float_p, P(c_int)]),
    ("arnet_extractor_reset", None, [c_void_p]),
    ("arnet_extractor_cancel", None, [c_void_p]),
    ("arnet_extractor_state_memory", c_size_t, [c_void_p]),
    # optical flow (TV-L1)
    ("arnet_flow_options_init", None, [P(FlowOptions)]),
    ("arnet_flow_options_preset", STATUS, [P(FlowOptions), c_int]),
    ("arnet_flow_create", STATUS, [c_u32, c_u32, P(FlowOptions), c_void_pp]),
    ("arnet_flow_free", None, [c_void_p]),
    ("arnet_flow_compute", STATUS, [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p]),
    ("arnet_flow_compute_f32", STATUS,
     [c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p]),
    ("arnet_flow_cancel", None, [c_void_p]),
    ("arnet_flow_memory", c_size_t, [c_void_p]),
    # two streams: RGB and optical flow
    ("arnet_two_stream_state_create", STATUS,
     [c_void_p, c_void_p, P(ExtractorOptions), P(FlowOptions), c_void_pp]),
    ("arnet_two_stream_state_free", None, [c_void_p]),
    ("arnet_two_stream_feature_dim", c_u32, [c_void_p]),
    ("arnet_two_stream_push", STATUS, [c_void_p, P(Frame), c_float_p, P(c_int)]),
    ("arnet_two_stream_reset", None, [c_void_p]),
    ("arnet_two_stream_cancel", None, [c_void_p]),
    ("arnet_two_stream_state_memory", c_size_t, [c_void_p]),
]


def _errcheck(result, func, args):
    """Runs on the calling thread right after the C call returns, before any
    other libarnet call can replace the thread's last error message.  The
    system's failures (ARNET_E_IO with arnet_last_errno() set) become the
    OSError subclass Python has for that errno (FileNotFoundError,
    PermissionError, IsADirectoryError, ...); the library's own verdicts are
    ArnetError (InvalidArgumentError, also a ValueError, for E_INVALID)."""
    if result < 0:
        message = _raw.arnet_last_error()
        message = message.decode("utf-8", "replace") if message else ""
        err = _raw.arnet_last_errno() if result == E_IO and _has_errno else 0
        if err:
            path = next((a for a in args if isinstance(a, bytes)), None)
            exc = OSError(err, message, os.fsdecode(path)) if path is not None \
                else OSError(err, message)
            exc.status = int(result)
            exc.function = func.__name__
            raise exc
        raise _error_class(result)(result, message, func.__name__)
    return result


def _declare(handle):
    for name, restype, argtypes in PROTOTYPES:
        try:
            fn = getattr(handle, name)
        except AttributeError:
            continue  # not in this build: require() says so when used
        fn.argtypes = argtypes
        if restype is STATUS:
            fn.restype = c_int
            fn.errcheck = _errcheck
        else:
            fn.restype = restype


def require(name):
    """The C function `name`, or NotImplementedError when the loaded library
    does not export it."""
    fn = getattr(lib, name, None)
    if fn is None:
        raise NotImplementedError(
            "the loaded libarnet (%s) has no %s(); rebuild it from a newer "
            "source tree" % (library_path, name))
    return fn


def has(name):
    """Whether the loaded library exports the C function `name`."""
    return hasattr(_raw, name)


class _Lib(object):
    """Namespace of the declared C functions.  A plain object rather than the
    CDLL itself so that tests can wrap one function (e.g. record the pointer
    arnet_model_score receives) and put it back."""


lib = None
_raw, library_path = _load()
_has_errno = hasattr(_raw, "arnet_last_errno")
if _has_errno:
    _raw.arnet_last_errno.restype = c_int
    _raw.arnet_last_errno.argtypes = []
_declare(_raw)
lib = _Lib()
for _name, _restype, _argtypes in PROTOTYPES:
    if hasattr(_raw, _name):
        setattr(lib, _name, getattr(_raw, _name))
del _name, _restype, _argtypes


# ---------------------------------------------------------------------------
# Numbers for C: refused here when the C type cannot hold them (ctypes would
# wrap 2**32 + 5 to 5, or -1 to 4294967295, and round 1e300 to infinity).
# The C library's own limits (a per-batch count above 65536, a dropout
# outside [0, 1)) stay the library's: it says them, as InvalidArgumentError.
# ---------------------------------------------------------------------------

_INT_TYPES = {
    ctypes.c_int: ("int", -2 ** 31, 2 ** 31 - 1),
    ctypes.c_uint32: ("uint32_t", 0, 2 ** 32 - 1),
    ctypes.c_uint64: ("uint64_t", 0, 2 ** 64 - 1),
    ctypes.c_size_t: ("size_t", 0, 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1),
    ctypes.c_uint8: ("uint8_t", 0, 255),
}
_FLT_MAX = 3.4028234663852886e38


def c_int_arg(value, name, ctype=ctypes.c_int, lo=None, hi=None):
    """value as a Python int that ctype holds exactly (and within [lo, hi]
    when given); TypeError for a non-integer (3.5, "3", None), ValueError
    naming `name` when out of range.  bool counts as 0/1."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError("%s must be an integer, not %s %r"
                        % (name, type(value).__name__, value)) from None
    tname, tlo, thi = _INT_TYPES[ctype]
    lo = tlo if lo is None else max(lo, tlo)
    hi = thi if hi is None else min(hi, thi)
    if v < lo or v > hi:
        raise InvalidArgumentError(E_INVALID, "%s %d is out of range %d..%d%s"
                                   % (name, v, lo, hi,
                                      " (a C %s)" % tname if (lo, hi) == (tlo, thi) else ""))
    return v


def c_float_arg(value, name, ctype=ctypes.c_float):
    """value as a float that ctype holds without overflowing to infinity
    (NaN and infinities themselves pass: the C library judges them);
    TypeError for a non-number, ValueError naming `name` when too large."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError("%s must be a number, not %s %r" % (name, type(value).__name__, value))
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, not %s %r"
                        % (name, type(value).__name__, value)) from None
    except OverflowError:
        raise InvalidArgumentError(E_INVALID, "%s %r is too large for a C %s"
                                   % (name, value, "float" if ctype is ctypes.c_float
                                      else "double")) from None
    if ctype is ctypes.c_float and math.isfinite(v) and abs(v) > _FLT_MAX:
        raise InvalidArgumentError(E_INVALID, "%s %r is too large for a C float (max %g)"
                                   % (name, v, _FLT_MAX))
    return v


def c_arg(value, name, ctype):
    """c_int_arg or c_float_arg by ctype."""
    if ctype in (ctypes.c_float, ctypes.c_double):
        return c_float_arg(value, name, ctype)
    return c_int_arg(value, name, ctype)


def put(struct, field, value, name=None):
    """struct.field = value, checked against the field's C type first
    (c_arg); name is the argument's name in messages (default: field)."""
    ctype = dict(type(struct)._fields_)[field]
    setattr(struct, field, c_arg(value, name or field, ctype))


def last_error():
    """arnet_last_error() on the calling thread, as str."""
    return _raw.arnet_last_error().decode("utf-8", "replace")


def short_float32(x):
    """The shortest decimal that rounds to the same float32 (1e-3, not
    0.0010000000474974513)."""
    want = ctypes.c_float(x).value
    for digits in range(1, 10):
        y = float("%.*g" % (digits, x))
        if ctypes.c_float(y).value == want:
            return y
    return x


def encode_path(path):
    """A path-like or str as the bytes C expects (file system encoding)."""
    return os.fsencode(path)


class Handle(object):
    """Owns one C handle and frees it exactly once, never while in use.

    Every call into the library holds the handle for its duration (use());
    objects that borrow a handle for their own life (a Scorer its model, a
    Trainer its model and data set) name it in `deps`, which are held until
    this handle itself is freed.  close() marks the handle closed (new uses
    are refused with E_STATE) and frees it once the last use has ended, so
    closing from another thread while a call runs never frees memory that
    call still reads: the free is deferred to the end of the call."""

    __slots__ = ("ptr", "_free", "users", "closing", "what", "_deps", "_lock",
                 "__weakref__")

    def __init__(self, ptr, free_name, what="handle", deps=()):
        self.ptr = ptr
        self._free = getattr(lib, free_name)
        self.users = 0
        self.closing = False
        self.what = what
        self._lock = threading.Lock()
        self._deps = []
        try:
            for d in deps:
                d.retain()
                self._deps.append(d)
        except BaseException:
            self.release()
            raise

    def retain(self):
        """One more user; E_STATE when the handle is already closed."""
        with self._lock:
            if self.closing or not self.ptr:
                raise ArnetError(E_STATE, "the %s is closed" % self.what)
            self.users += 1

    def drop(self):
        with self._lock:
            self.users -= 1
            free = self.users <= 0 and self.closing
        if free:
            self.release()

    def use(self):
        """Context manager holding the handle for one call; gives the pointer."""
        self.retain()
        return _InUse(self)

    def close(self):
        with self._lock:
            if self.closing:
                return
            self.closing = True
            free = self.users <= 0
        if free:
            self.release()

    def release(self):
        with self._lock:
            ptr, self.ptr = self.ptr, None
            deps, self._deps = self._deps, []
        if ptr:
            self._free(ptr)
        for d in deps:
            d.drop()

    def __del__(self):
        try:
            self.release()
        except Exception:  # interpreter shutdown: nothing sensible to do
            pass


class _InUse(object):
    __slots__ = ("_h",)

    def __init__(self, h):
        self._h = h

    def __enter__(self):
        return self._h.ptr

    def __exit__(self, *exc):
        self._h.drop()


def using(obj, what):
    """Hold obj's handle for one call (with-statement; gives the pointer):
    E_STATE naming `what` when obj is closed.  The handle cannot be freed
    before the with-block ends, whatever other threads do."""
    h = getattr(obj, "_h", None)
    if h is None:
        raise ArnetError(E_STATE, "the %s is closed" % what)
    return h.use()
