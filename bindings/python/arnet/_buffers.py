"""_buffers.py -- turns caller data (numpy arrays, any buffer-protocol object,
sequences) into the float32 / uint8 pointers libarnet reads, copying only
when the data is not already float32 (uint8) and C-contiguous, and builds
results as numpy arrays when numpy is importable, lists otherwise.
"""
import array
import ctypes
from collections import namedtuple

try:  # numpy is optional: every path below also works without it
    import numpy as np
except ImportError:  # pragma: no cover - exercised by the numpy-less interpreter
    np = None

HAVE_NUMPY = np is not None

# ptr: address C reads; rows x cols the shape; keep: the object owning the
# memory (keep it referenced until the call returns); copied: whether the
# conversion made a copy.
Matrix = namedtuple("Matrix", "ptr rows cols keep copied")
Vector = namedtuple("Vector", "ptr n keep copied")


def _is_numpy(obj):
    return np is not None and isinstance(obj, np.ndarray)


# numpy kinds that are not numbers of the real line: complex, text, bytes,
# Python objects, dates and durations, raw records.  Converting them would
# drop an imaginary part, parse text or read timestamps as numbers.
_REFUSED_KINDS = {"c": "a complex", "U": "a string", "S": "a bytes", "O": "an object",
                  "M": "a datetime", "m": "a timedelta", "V": "a void"}


def _check_numpy_kind(arr, what):
    kind = _REFUSED_KINDS.get(arr.dtype.kind)
    if kind is not None:
        raise TypeError("%s: %s array (dtype %s) is not numeric data"
                        % (what, kind, arr.dtype))


_FLT_MAX = 3.4028234663852886e38


def _too_large(what, value):
    from ._lib import E_INVALID, InvalidArgumentError
    return InvalidArgumentError(E_INVALID, "%s: %r is beyond a float32's range (+-%g); "
                                "it would become infinity" % (what, value, _FLT_MAX))


def _real(v, what):
    """A Python element as float: real numbers only (str, bytes and complex
    are refused rather than parsed or truncated), and none that float32
    would turn into infinity (NaN and infinities pass as themselves)."""
    if isinstance(v, (str, bytes, bytearray, complex)):
        raise TypeError("%s: %r (%s) is not a real number" % (what, v, type(v).__name__))
    try:
        f = float(v)
    except OverflowError:
        raise _too_large(what, v) from None
    if f == f and abs(f) > _FLT_MAX and f not in (float("inf"), float("-inf")):
        raise _too_large(what, v)
    return f


def _as_float32(arr, what):
    """A numpy array as C-contiguous float32, refusing finite values that
    the cast would turn into infinity (float64 1e300, float128)."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and arr.size:
        with np.errstate(invalid="ignore"):
            big = np.isfinite(arr) & (np.abs(arr) > _FLT_MAX)
        if big.any():
            raise _too_large(what, arr[big].flat[0].item())
    return np.ascontiguousarray(arr, dtype=np.float32)


def _memoryview(obj):
    """memoryview of obj, or None.  bytes and bytearray are raw memory: they
    are read as native float32 values (as written by array.tobytes())."""
    try:
        mv = memoryview(obj)
    except TypeError:
        return None
    if isinstance(obj, (bytes, bytearray)):
        if mv.nbytes % 4:
            raise _shape_error("a bytes buffer of %d bytes is not whole float32 values"
                               % mv.nbytes)
        return mv.cast("B").cast("f")
    return mv


def _address_of_memoryview(mv, keep):
    """Address of a C-contiguous memoryview without copying (writable
    buffers), or of a copy (read-only ones: ctypes cannot take their address
    portably).  Returns (ptr, keep, copied)."""
    nbytes = mv.nbytes
    if nbytes == 0:
        buf = ctypes.create_string_buffer(1)
        return ctypes.addressof(buf), buf, True
    if not mv.readonly:
        c = (ctypes.c_char * nbytes).from_buffer(mv.cast("B"))
        return ctypes.addressof(c), (c, keep), False
    c = (ctypes.c_char * nbytes).from_buffer_copy(mv.cast("B"))
    return ctypes.addressof(c), c, True


_FLOAT_FORMATS = ("f", "<f", "=f", "@f")
_U8_FORMATS = ("B", "<B", "=B", "@B", "?", "<?", "=?", "@?", "c")


def _flatten_rows(obj, cols, what="features"):
    """Sequence of sequences (or flat sequence) -> array('f'), rows."""
    try:
        first = obj[0] if len(obj) else None
    except TypeError:
        obj = list(obj)
        first = obj[0] if obj else None
    if first is not None and _is_row(first):
        flat = array.array("f")
        for i, row in enumerate(obj):
            row = list(row)
            if cols is not None and len(row) != cols:
                raise _shape_error("%s row %d has %d values, expected %d"
                                   % (what, i, len(row), cols))
            if cols is None:
                cols = len(row)
            flat.extend(_real(v, what) for v in row)
        return flat, len(obj), cols
    flat = array.array("f", (_real(v, what) for v in obj))
    return flat, None, cols


def _is_row(x):
    if isinstance(x, (str, bytes)):
        return False
    try:
        len(x)
    except TypeError:
        return False
    return True


def _shape_error(message):
    from ._lib import ArnetError, E_SHAPE
    return ArnetError(E_SHAPE, message)


def as_float_matrix(obj, cols=None, what="features"):
    """obj as a row-major float32 matrix with `cols` columns (None: take the
    data's own).  2-D data must have cols columns; 1-D data is read as flat
    row-major rows of cols values (its length must be a multiple of cols).
    numpy float32 C-contiguous arrays and writable float32 buffers are
    passed without a copy."""
    if _is_numpy(obj):
        arr = obj
        _check_numpy_kind(arr, what)
        if arr.dtype != np.float32 or not arr.flags.c_contiguous:
            arr = _as_float32(arr, what)
        copied = arr is not obj
        if arr.ndim == 2:
            return _check_matrix(arr.ctypes.data, arr.shape[0], arr.shape[1], cols, arr,
                                 copied, what)
        if arr.ndim == 1:
            return _flat_matrix(arr.ctypes.data, arr.shape[0], cols, arr, copied, what)
        raise _shape_error("%s must be 1-D or 2-D, got %d dimensions" % (what, arr.ndim))
    mv = _memoryview(obj)
    if mv is not None and mv.format in _FLOAT_FORMATS and mv.c_contiguous:
        ptr, keep, copied = _address_of_memoryview(mv, obj)
        if mv.ndim == 2:
            return _check_matrix(ptr, mv.shape[0], mv.shape[1], cols, keep, copied, what)
        if mv.ndim == 1:
            return _flat_matrix(ptr, mv.shape[0], cols, keep, copied, what)
        raise _shape_error("%s must be 1-D or 2-D, got %d dimensions" % (what, mv.ndim))
    if mv is not None and mv.ndim in (1, 2):
        # Another element type (double, int...): convert through tolist().
        obj = mv.tolist()
    flat, rows, cols2 = _flatten_rows(obj, cols, what)
    ptr, keep, _ = _address_of_memoryview(memoryview(flat), flat)
    if rows is None:
        return _flat_matrix(ptr, len(flat), cols, keep, True, what)
    return _check_matrix(ptr, rows, cols2, cols, keep, True, what)


def _check_matrix(ptr, rows, cols, want, keep, copied, what):
    if want is not None and cols != want:
        raise _shape_error("%s has %d columns, expected %d" % (what, cols, want))
    return Matrix(ptr, rows, cols, keep, copied)


def _flat_matrix(ptr, n, cols, keep, copied, what):
    if cols is None:
        return Matrix(ptr, 1, n, keep, copied)
    if cols == 0 or n % cols:
        raise _shape_error("%s holds %d values, not a multiple of %d" % (what, n, cols))
    return Matrix(ptr, n // cols, cols, keep, copied)


def as_float_vector(obj, what="values"):
    """obj (any shape) as a flat float32 vector."""
    if _is_numpy(obj):
        arr = obj
        _check_numpy_kind(arr, what)
        if arr.dtype != np.float32 or not arr.flags.c_contiguous:
            arr = _as_float32(arr, what)
        return Vector(arr.ctypes.data, arr.size, arr, arr is not obj)
    mv = _memoryview(obj)
    if mv is not None and mv.format in _FLOAT_FORMATS and mv.c_contiguous:
        ptr, keep, copied = _address_of_memoryview(mv, obj)
        return Vector(ptr, mv.nbytes // 4, keep, copied)
    if mv is not None:
        obj = mv.tolist()
    if isinstance(obj, (int, float)):
        obj = [obj]
    flat = array.array("f", (_real(v, what) for v in _flat_iter(obj)))
    ptr, keep, _ = _address_of_memoryview(memoryview(flat), flat)
    return Vector(ptr, len(flat), keep, True)


def _flat_iter(obj):
    for v in obj:
        if _is_row(v):
            for w in _flat_iter(v):
                yield w
        else:
            yield v


def as_label_vector(obj, what="labels"):
    """obj as a flat uint8 0/1 vector (nonzero = 1).  uint8 / bool numpy
    arrays holding only 0 and 1 are passed without a copy.  A NaN label is
    ArnetError E_INVALID naming its index (as the .npy label reader refuses
    it); complex, text, object and date data are TypeError."""
    if _is_numpy(obj):
        arr = obj
        _check_numpy_kind(arr, what)
        if arr.dtype == np.bool_ or arr.dtype == np.uint8:
            if arr.flags.c_contiguous and (arr.dtype == np.bool_ or arr.size == 0
                                           or int(arr.max()) <= 1):
                return Vector(arr.ctypes.data, arr.size, arr, False)
        flat = np.asarray(arr).reshape(-1)
        if flat.dtype.kind == "f":
            nan = np.flatnonzero(np.isnan(flat))
            if nan.size:
                raise _nan_label(what, int(nan[0]))
        arr = np.ascontiguousarray(flat != 0, dtype=np.uint8)
        return Vector(arr.ctypes.data, arr.size, arr, True)
    try:
        obj = memoryview(obj).tolist()
    except TypeError:
        pass
    flat = array.array("B")
    for i, v in enumerate(_flat_iter(obj)):
        v = _real(v, what) if not isinstance(v, (bool, int)) else v
        if v != v:
            raise _nan_label(what, i)
        flat.append(1 if v else 0)
    ptr, keep, _ = _address_of_memoryview(memoryview(flat), flat)
    return Vector(ptr, len(flat), keep, True)


def _nan_label(what, index):
    from ._lib import ArnetError, E_INVALID
    return ArnetError(E_INVALID, "%s: label %d is NaN (labels are 0 or 1)" % (what, index))


def new_floats(n):
    """Output buffer of n float32 values: (object to return, address)."""
    if np is not None:
        arr = np.empty(n, dtype=np.float32)
        return arr, arr.ctypes.data
    buf = (ctypes.c_float * max(n, 1))()
    return buf, ctypes.addressof(buf)


def float_result(buf, n, shape=None):
    """Finish an output made by new_floats: the numpy array itself (reshaped
    when shape is given), or a list (of lists) of Python floats."""
    if np is not None:
        return buf.reshape(shape) if shape is not None else buf
    values = list(buf[:n])
    if shape is not None and len(shape) == 2:
        rows, cols = shape
        return [values[r * cols:(r + 1) * cols] for r in range(rows)]
    return values


def floats_from_pointer(ptr, n, shape=None):
    """Copy n float32 values at a C pointer into a numpy array or list."""
    if n == 0:
        return float_result(new_floats(0)[0], 0, shape)
    buf, addr = new_floats(n)
    ctypes.memmove(addr, ptr, 4 * n)
    return float_result(buf, n, shape)


def labels_from_pointer(ptr, n):
    """Copy n uint8 values at a C pointer into a numpy uint8 array or list."""
    raw = ctypes.string_at(ptr, n) if n else b""
    if np is not None:
        return np.frombuffer(raw, dtype=np.uint8).copy()
    return list(raw)
