"""Input validation, in one place.

Every public entry point of :mod:`scratch` (and the oracles, which share it) calls
:func:`check_inputs` before any arithmetic.  A bad input is rejected with a
``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong shape or value)
whose message names the argument, what it got and what was expected.  Nothing is ever
broadcast silently, cast silently or modified.
"""

from __future__ import annotations

import cmath
import math
from typing import Any

import numpy as np

#: Real floating dtypes the network computes in.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Complex dtype accepted only where documented (complex-step differentiation).
COMPLEX_DTYPES = (np.dtype(np.complex128),)

PARAM_NAMES = ("W1", "b1", "W2", "b2")

_F32, _F64 = FLOAT_DTYPES  # NumPy's native-order builtin dtypes are singletons: ``is`` is a fast test


def _describe(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return f"array of shape {a.shape} and dtype {a.dtype}"
    return f"{type(a).__name__}"


def unsupported_dtype(name: str, a: np.ndarray, allow_complex: bool = False) -> str:
    """The message for an array of a dtype the network does not compute in (float16,
    longdouble, complex, integers ...): what it got, what is accepted, and what to do."""
    want = "float32, float64 or complex128" if allow_complex else "float32 or float64"
    msg = f"{name} must have a floating dtype ({want}), got {_describe(a)}"
    if a.dtype.kind == "f":
        return msg + f": {a.dtype} is not supported, cast it with .astype(np.float32) or .astype(np.float64)"
    if a.dtype.kind == "c":
        return msg + (": gradients are real; complex128 is accepted only by scratch.loss, for complex-step "
                      "differentiation" if not allow_complex else ": complex64 is not supported, use complex128")
    return msg


def check_array(name: str, a: Any, *, allow_complex: bool = False) -> np.ndarray:
    """Check that ``a`` is a non-empty, finite floating NumPy array.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    a : object
        The candidate array.
    allow_complex : bool
        Also accept complex128 (for complex-step differentiation).

    Returns
    -------
    numpy.ndarray
        ``a`` itself (never a copy).
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(a)}")
    dt = a.dtype
    if dt is not _F64 and dt is not _F32 and dt not in FLOAT_DTYPES + (COMPLEX_DTYPES if allow_complex else ()):
        raise TypeError(unsupported_dtype(name, a, allow_complex))
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got {_describe(a)}")
    if not all_finite(a):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite value(s) in {_describe(a)}")
    return a


def finite_probe(a: np.ndarray) -> Any:
    """A scalar that is finite only when every entry of ``a`` is finite (and nearly always then).

    ``vdot(a, a) = sum |a|^2`` for a C-contiguous real array (one BLAS dot product on a flat
    view: no copy, threaded, ~4x faster than a sum on a large float64 array), else
    ``sum(a)``.  A NaN or an infinity anywhere makes either NaN or infinite (a square is never
    negative, so no ``inf - inf`` can cancel), so a finite result proves every entry finite.
    Finite entries can still overflow it (``|a| > ~1e154`` in float64, ``~1e19`` in float32
    for the squares): then it is infinite and the callers fall back to the exact check.
    """
    if a.flags.c_contiguous and a.dtype.kind == "f":
        return np.vdot(a, a)
    return np.add.reduce(a, axis=None)


def all_finite(a: np.ndarray) -> bool:
    """True when every entry of ``a`` is finite, without allocating an ``isfinite`` mask.

    A finite :func:`finite_probe` (``sum |a|^2`` or ``sum a``) proves every entry finite.  Only
    when it is not finite (a bad entry, or finite entries whose probe overflows) is the exact,
    allocating check run.  This keeps the workspace fast path free of (N, D)-sized temporaries.
    (:func:`check_inputs` silences the overflow warning that the probe may raise, once for all
    its arrays.)
    """
    total = finite_probe(a)
    finite = cmath.isfinite(total) if a.dtype.kind == "c" else math.isfinite(total)
    return finite or bool(np.all(np.isfinite(a)))


def check_params(params: Any, *, allow_complex: bool = False) -> tuple[int, int, int, np.dtype]:
    """Validate network parameters and return ``(D, H, C, dtype)``.

    Expects ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), all of one floating dtype.
    """
    for field in PARAM_NAMES:
        if not hasattr(params, field):
            raise TypeError(
                f"params must have fields W1, b1, W2, b2 (a scratch.Params), got {type(params).__name__}"
            )
    W1, b1, W2, b2 = (check_array(f"params.{f}", getattr(params, f), allow_complex=allow_complex) for f in PARAM_NAMES)
    if W1.ndim != 2:
        raise ValueError(f"params.W1 must be 2-D (D, H), got shape {W1.shape}")
    D, H = W1.shape
    if b1.ndim != 1:
        raise ValueError(f"params.b1 must have shape (H,) = ({H},), a 1-D array, got shape {b1.shape}")
    if b1.shape != (H,):
        raise ValueError(f"params.W1 {W1.shape} and params.b1 {b1.shape} disagree on H: W1 has H = {H} columns, "
                         f"b1 has {b1.shape[0]} entries")
    if W2.ndim != 2:
        raise ValueError(f"params.W2 must be 2-D (H, C) with H = {H} from W1 {W1.shape}, got shape {W2.shape}")
    if W2.shape[0] != H:
        raise ValueError(f"params.W1 {W1.shape} and params.W2 {W2.shape} disagree on H: W1 has H = {H} columns, "
                         f"W2 has {W2.shape[0]} rows")
    C = W2.shape[1]
    if b2.ndim != 1:
        raise ValueError(f"params.b2 must have shape (C,) = ({C},), a 1-D array, got shape {b2.shape}")
    if b2.shape != (C,):
        raise ValueError(f"params.W2 {W2.shape} and params.b2 {b2.shape} disagree on C: W2 has C = {C} columns, "
                         f"b2 has {b2.shape[0]} entries")
    dt = W1.dtype
    if b1.dtype != dt or W2.dtype != dt or b2.dtype != dt:
        got = ", ".join(f"{f}={a.dtype}" for f, a in zip(PARAM_NAMES, (W1, b1, W2, b2)))
        raise TypeError(f"params must share one dtype (no mixed float32/float64), got {got}")
    return D, H, C, W1.dtype


def check_targets(y: Any, N: int, C: int, dtype: np.dtype) -> bool:
    """Validate targets; return True for integer labels, False for float targets.

    Labels: integer array of shape (N,) with values in [0, C).
    Targets: float array of shape (N, C), of the parameters' dtype, finite and non-negative
    (rows need not sum to 1).
    """
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a numpy.ndarray (int labels (N,) or float targets (N, C)), got {_describe(y)}")
    if y.dtype.kind not in "iuf":  # signed/unsigned integer or float (bool is kind 'b')
        raise TypeError(
            f"y must hold integer labels of shape (N,) or float targets of shape (N, C), got {_describe(y)}"
        )
    if y.dtype.kind in "iu":
        if y.shape != (N,):
            raise ValueError(f"y (integer labels) must have shape (N,) = ({N},) to match x, got {y.shape}")
        if _largest_label(y) >= C:
            bad = y[(y < 0) | (y >= C)]
            raise ValueError(f"y labels must lie in [0, C) = [0, {C}), got value(s) {bad[:5].tolist()}")
        return True
    if y.ndim == 1:
        raise TypeError(
            f"y of shape {y.shape} with float dtype {y.dtype}: labels must be integers; "
            f"float targets must have shape (N, C) = ({N}, {C})"
        )
    check_array("y", y)
    if y.shape != (N, C):
        raise ValueError(f"y (float targets) must have shape (N, C) = ({N}, {C}), got {y.shape}")
    if y.dtype != dtype:
        raise TypeError(f"y must have the parameters' dtype {dtype} (no mixed float32/float64), got {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"y (float targets) must be non-negative, got minimum {float(y.min()):g}")
    return False


def _largest_label(y: np.ndarray) -> int:
    """The largest of integer labels ``y`` seen as unsigned integers of the same width, in one
    pass: a negative label is huge there, so ``_largest_label(y) < C`` proves ``0 <= y < C``."""
    unsigned = y if y.dtype.kind == "u" else y.view(y.dtype.str.replace("i", "u"))
    return int(np.maximum.reduce(unsigned, axis=None))


def quick_inputs(params: Any, x: Any, y: Any) -> tuple[int, int, int, int, np.dtype, bool] | None:
    """The common, valid call checked in few Python operations: what :func:`check_inputs`
    returns, or None whenever anything is unusual (then the full checks decide, and word the error).

    Accepts only exact ``numpy.ndarray`` arguments of one native float32/float64 dtype with
    consistent non-empty shapes, a finite sum of :func:`finite_probe` over W1, b1, W2, b2, x (a
    NaN or infinity anywhere makes it non-finite; a finite one proves every entry finite), and
    labels whose
    largest value seen as unsigned integers is below C (negative labels are huge there) or
    float targets with a finite probe and a non-negative minimum.  A probe that overflows only sends
    the call to the full checks.  (The caller silences the overflow warning such a probe may raise.)
    """
    try:
        W1, b1, W2, b2 = params.W1, params.b1, params.W2, params.b2
    except AttributeError:
        return None
    nd = np.ndarray
    if not (type(W1) is nd and type(b1) is nd and type(W2) is nd and type(b2) is nd and type(x) is nd and type(y) is nd):
        return None
    dt = W1.dtype
    if (dt is not _F64 and dt is not _F32) or b1.dtype is not dt or W2.dtype is not dt or b2.dtype is not dt \
            or x.dtype is not dt:
        return None
    s1, s2, sx = W1.shape, W2.shape, x.shape
    if len(s1) != 2 or len(s2) != 2 or len(sx) != 2:
        return None
    (D, H), C, N = s1, s2[1], sx[0]
    if s2[0] != H or b1.shape != (H,) or b2.shape != (C,) or sx[1] != D or not (N and D and H and C):
        return None
    probe = finite_probe
    if not math.isfinite(float(probe(W1)) + float(probe(b1)) + float(probe(W2)) + float(probe(b2)) + float(probe(x))):
        return None
    yd = y.dtype
    if yd is dt:
        if y.shape != (N, C) or not math.isfinite(probe(y)) or np.minimum.reduce(y, None) < 0:
            return None
        return N, D, H, C, dt, False
    if yd.kind in "iu" and y.shape == (N,):
        if _largest_label(y) >= C:
            return None
        return N, D, H, C, dt, True
    return None


@np.errstate(over="ignore", invalid="ignore")  # probes in all_finite may overflow: handled there
def check_inputs(params: Any, x: Any, y: Any = None, *, allow_complex: bool = False) -> tuple[int, int, int, int, np.dtype, bool]:
    """Validate ``(params, x, y)`` together; return ``(N, D, H, C, dtype, is_labels)``.

    ``x`` must be a finite float array of shape (N, D), N >= 1, with the parameters' dtype.
    ``y`` may be None (forward pass only); ``is_labels`` is then False.
    """
    if y is not None and not allow_complex:
        quick = quick_inputs(params, x, y)  # the common valid call, cheaply; else the full checks
        if quick is not None:
            return quick
    D, H, C, dtype = check_params(params, allow_complex=allow_complex)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray of shape (N, D={D}), got {_describe(x)}")
    if x.dtype not in FLOAT_DTYPES + (COMPLEX_DTYPES if allow_complex else ()):
        raise TypeError(unsupported_dtype("x", x, allow_complex))
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (N, D) with D = {D}, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one sample (N >= 1), got shape {x.shape}")
    if x.shape[1] != D:
        raise ValueError(f"x must have shape (N, D) with D = {D} from W1 {params.W1.shape}, got {x.shape}")
    real_dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)  # complex128 -> float64
    if x.dtype not in (dtype, real_dtype):
        raise TypeError(f"x must have the parameters' dtype {dtype}, got {x.dtype}: "
                        + ("no mixing of float32 and float64" if x.dtype.kind == "f" else
                           "complex-step differentiation takes complex128 parameters and a real x"))
    check_array("x", x, allow_complex=allow_complex)
    N = x.shape[0]
    is_labels = False if y is None else check_targets(y, N, C, real_dtype)
    return N, D, H, C, dtype, is_labels
