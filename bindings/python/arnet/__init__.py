"""arnet -- Python bindings of libarnet, weakly supervised video anomaly
detection (AR-Net, Wan et al., ICME 2020), through ctypes.

    import arnet
    train, test = arnet.synth(feature_dim=256, scale=0.2)
    model = arnet.Model(feature_dim=256)
    arnet.Trainer(model).fit(train, iterations=300)
    print(arnet.evaluate(model, test)["auc"])
    scores = model.score(features)          # one score per clip
    feats = arnet.Extractor("i3d.arnet").extract(frames)  # uint8 [N,H,W,3] -> [T,1024]
    two = arnet.TwoStream("i3d.arnet", "flow.arnet").extract(frames)  # -> [T,2048]

The shared library is found through $ARNET_LIBRARY, then the build folders
of the source checkout this package sits in, then the system path; its ABI
version must be 0 (ImportError otherwise).  numpy is optional: with it,
results are float32 arrays and float32 C-contiguous inputs are not copied;
without it, results are lists.  docs/python.md is the guide.
"""
from ._lib import (ABI_VERSION, E_CANCELLED, E_FORMAT, E_INVALID, E_IO, E_NOMEM, E_SHAPE,
                   E_STATE, OK, ArnetError, InvalidArgumentError, library_path)
from ._lib import lib as _c
from ._buffers import HAVE_NUMPY
from .model import Meta, Model, file_info
from .data import (Dataset, Video, evaluate, read_npy, read_npy_labels, synth, synth_write,
                   write_npy)
from .metrics import (average_precision, loss_center, loss_dmil, loss_kmax_mil, pr_auc,
                      roc_auc, threshold_for_far)
from .scoring import Event, Scorer, Stream
from .extractor import Extractor
from .flow import Flow
from .two_stream import TwoStream
from .trainer import Stats, Trainer

from ._version import version as __version__


def version():
    """Version string of the loaded libarnet ("0.1.0"); the package's own is
    __version__, the same for a library built from the same checkout."""
    return _c.arnet_version().decode("ascii")


def abi_version():
    """ABI version of the loaded libarnet (0)."""
    return int(_c.arnet_abi_version())


def checkpoint_format_version():
    """Checkpoint format version the library writes (major * 100 + minor)."""
    return int(_c.arnet_checkpoint_format_version())


def blas_arch():
    """Name of the BLIS kernel set matrix products run on."""
    return _c.arnet_blas_arch().decode("ascii", "replace")


def strerror(status):
    """Short name of a status code."""
    return _c.arnet_strerror(int(status)).decode("ascii", "replace")


__all__ = [
    "ABI_VERSION", "ArnetError", "InvalidArgumentError", "Dataset", "E_CANCELLED", "E_FORMAT", "E_INVALID", "E_IO",
    "E_NOMEM", "E_SHAPE", "E_STATE", "Event", "Extractor", "Flow", "HAVE_NUMPY", "Meta", "Model", "OK",
    "Scorer", "Stats", "Stream", "Trainer", "TwoStream", "Video", "abi_version", "average_precision",
    "blas_arch", "checkpoint_format_version", "evaluate", "file_info", "library_path",
    "loss_center", "loss_dmil", "loss_kmax_mil", "pr_auc", "read_npy", "read_npy_labels",
    "roc_auc", "strerror", "synth", "synth_write", "threshold_for_far", "version", "write_npy",
]
