"""metrics.py -- frame metrics equal to scikit-learn's (ROC AUC, average
precision, trapezoidal PR area), the false-alarm threshold and the loss
kernels of one video (arnet_roc_auc..., arnet_loss_* in arnet.h).
"""
import ctypes

from . import _buffers

from ._lib import E_SHAPE, ArnetError, c_float_arg, c_int_arg, lib, require


def _metric(fn_name, scores, labels):
    s = _buffers.as_float_vector(scores, "scores")
    y = _buffers.as_label_vector(labels, "labels")
    if s.n != y.n:
        raise ArnetError(E_SHAPE, "%d scores but %d labels" % (s.n, y.n))
    out = ctypes.c_double()
    getattr(lib, fn_name)(ctypes.c_void_p(s.ptr), ctypes.c_void_p(y.ptr), s.n,
                          ctypes.byref(out))
    return out.value


def roc_auc(scores, labels):
    """ROC AUC (ties count half), equal to sklearn's roc_auc_score.  labels:
    nonzero = positive.  One class only or a NaN score raises ArnetError."""
    return _metric("arnet_roc_auc", scores, labels)


def average_precision(scores, labels):
    """Equal to sklearn's average_precision_score."""
    return _metric("arnet_average_precision", scores, labels)


def pr_auc(scores, labels):
    """Trapezoidal area under precision_recall_curve (sklearn's
    auc(recall, precision); what RTFM and XD-Violence call "AP")."""
    return _metric("arnet_pr_auc", scores, labels)


def threshold_for_far(scores, target_far):
    """(threshold, achieved_far): the smallest threshold whose fraction of
    scores >= it is at most target_far (e.g. scores of normal footage)."""
    s = _buffers.as_float_vector(scores, "scores")
    t = ctypes.c_float()
    achieved = ctypes.c_double()
    lib.arnet_threshold_for_far(ctypes.c_void_p(s.ptr), s.n,
                                c_float_arg(target_far, "target_far", ctypes.c_double),
                                ctypes.byref(t), ctypes.byref(achieved))
    return t.value, achieved.value


def _loss(fn_name, logits, label, alpha):
    fn = require(fn_name)
    z = _buffers.as_float_vector(logits, "logits")
    grad, gaddr = _buffers.new_floats(z.n)
    loss = ctypes.c_float()
    args = [ctypes.c_void_p(z.ptr), z.n, c_int_arg(label, "label")]
    if alpha is not None:
        args.append(c_float_arg(alpha, "alpha"))
    fn(*(args + [ctypes.byref(loss), ctypes.c_void_p(gaddr) if z.n else None]))
    return float(loss.value), _buffers.float_result(grad, z.n)


def loss_dmil(logits, label, alpha=4.0):
    """Dynamic MIL loss of one video (paper eq. 3-5: BCE on the top
    ceil(n/alpha) clips) from its logits: (loss, dloss/dlogits)."""
    return _loss("arnet_loss_dmil", logits, label, alpha)


def loss_center(logits, label):
    """Center loss of one video (eq. 6-7; 0 for an anomalous video):
    (loss, dloss/dlogits)."""
    return _loss("arnet_loss_center", logits, label, None)


def loss_kmax_mil(logits, label, alpha=4.0):
    """Baseline k-max MIL loss: BCE(mean of the top-k scores, label):
    (loss, dloss/dlogits)."""
    return _loss("arnet_loss_kmax_mil", logits, label, alpha)
