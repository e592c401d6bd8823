"""The one comparison: shape, dtype, finiteness, then values, for loss and every gradient.

Used by the test suite, ``python -m scratch compare`` and every other report, so that a
check means the same thing everywhere.  Note that ``np.testing.assert_allclose`` treats
NaN == NaN as equal by default; here a non-finite value on either side is a failure.

The boundary is inclusive: a quantity passes when its relative error is ``<= rtol`` (exactly at
the tolerance passes, one float above fails), as ``numpy.testing.assert_allclose``'s
``|a - b| <= atol + rtol |b|`` and :func:`same_values`.  A tolerance is a bound that correct
code may reach, not one it must stay strictly below (tests/test_verdict.py pins both sides).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .network import Grads

#: The compared quantities, in the order of the backward pass.
QUANTITIES = ("loss", "dz2", "dW2", "db2", "dz1", "dW1", "db1")


def expected_shapes(N: int, D: int, H: int, C: int) -> dict[str, tuple[int, ...]]:
    """The shape of each quantity for a problem (N, D, H, C)."""
    return {"loss": (), "dz2": (N, C), "dW2": (H, C), "db2": (C,), "dz1": (N, H), "dW1": (D, H), "db1": (H,)}


def relative_error(a: Any, b: Any) -> float:
    """Relative error of the largest magnitude: ``max|a-b| / max(max|a|, max|b|)``.

    0 when both are exactly zero; inf when either holds a non-finite value.
    """
    a = np.asarray(a, dtype=np.float64) if np.isrealobj(a) else np.asarray(a)
    b = np.asarray(b, dtype=np.float64) if np.isrealobj(b) else np.asarray(b)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else 0.0


def same_values(a: Any, b: Any, rtol: float) -> bool:
    """Whether two results are the same: same shape, non-finite entries in the same places with
    the same values (NaN, +inf, -inf), and finite entries within relative error ``rtol``.

    For comparing two implementations' outputs with each other (a second call, a pitfall's
    fingerprint), where both may be non-finite in the same way; never for checking against truth.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb):
        return False
    if not fa.all() and not np.array_equal(np.where(fa, 0, a), np.where(fb, 0, b), equal_nan=True):
        return False
    return relative_error(a[fa], b[fb]) <= rtol


def elementwise_relative_error(a: Any, b: Any, floor: float = 0.0) -> float:
    """Largest elementwise ``|a-b| / max(|b|, floor)``: the accuracy of every entry of ``a`` against truth ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    den = np.maximum(np.abs(b), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(a == b, 0.0, np.abs(a - b) / den)
    return float(np.max(r)) if r.size else 0.0


def relative_error_map(got: Any, ref: Any) -> np.ndarray:
    """The elementwise relative error ``|got - ref| / |ref|``, entry by entry (same shape; float64).

    0 where the two are equal (including both 0), inf where ``ref`` is 0 and ``got`` is not,
    NaN where either entry is not finite.  For looking at *where* a gradient is wrong (a column,
    each row's true class, saturated units); the pass/fail check is :func:`check_quantity`'s.
    """
    a, b = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(a == b, 0.0, np.abs(a - b) / np.abs(b))
    return np.where(np.isfinite(a) & np.isfinite(b), r, np.nan)


@dataclass(frozen=True)
class Check:
    """The outcome for one quantity.  ``problem`` is None when it passed."""

    quantity: str
    max_abs: float
    max_rel: float
    rtol: float
    problem: str | None
    #: Where ``|got - ref|`` is largest (an index into the array; ``()`` for the loss), and the
    #: two values there; None when the arrays could not be compared (shape, non-finite).
    worst_index: tuple[int, ...] | None = None
    worst_got: float | None = None
    worst_ref: float | None = None

    @property
    def passed(self) -> bool:
        """True when every check (shape, dtype, finiteness, value) passed."""
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        """The fields and ``passed``, for JSON reports."""
        return {**asdict(self), "passed": self.passed}


def zero_truth_floor(params: Any, x: np.ndarray, y: np.ndarray, spec: Any = None) -> float:
    """The loss's scale where its truth is exactly 0 (C = 1): ``max(1, max|z2|)`` times the
    largest row mass of the targets, times N for a summed loss (the size of the terms of
    ``z2 - logsumexp(z2)`` that cancel; see :data:`scratch.tolerances.ZERO_TRUTH_MIN_SCALE`).

    ``params`` W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); ``x`` (N, D); ``y`` (N,) labels or (N, C)."""
    from .network import Params, _logits
    from .spec import as_spec
    from .tolerances import ZERO_TRUTH_MIN_SCALE

    spec = as_spec(spec)
    with np.errstate(all="ignore"):  # (1)-(3) in float64
        z2 = _logits(Params(*(np.asarray(p, np.float64) for p in params)), np.asarray(x, np.float64), spec)[2]
    y = np.asarray(y)
    mass = 1.0 if y.ndim == 1 else float(np.max(np.abs(y).sum(axis=1), initial=0.0))
    zmax = float(np.max(np.abs(z2), initial=0.0)) if np.all(np.isfinite(z2)) else 0.0
    scale = max(ZERO_TRUTH_MIN_SCALE, zmax) * max(mass, ZERO_TRUTH_MIN_SCALE)
    return scale * (x.shape[0] if spec.reduction == "sum" else 1)


def check_quantity(
    quantity: str, got: Any, ref: Any, *, rtol: float, dtype: Any, shape: tuple[int, ...], ref_dtype: Any = None,
    floor: float = 0.0,
) -> Check:
    """Compare one quantity: shape, then dtype (of ``got``; of ``ref`` against ``ref_dtype``),
    then finiteness of both, then the relative error against ``rtol``.

    ``floor``: where ``ref`` is exactly 0 everywhere, the error is measured against
    ``max(max|got|, floor)`` instead (an absolute tolerance ``rtol * floor``;
    :data:`scratch.tolerances.ZERO_TRUTH_MIN_SCALE` says why, :func:`zero_truth_floor` gives the
    loss's)."""
    got_a, ref_a = np.asarray(got), np.asarray(ref)
    ref_dtype = np.dtype(dtype if ref_dtype is None else ref_dtype)
    problem = None
    if got_a.shape != tuple(shape) or ref_a.shape != tuple(shape):
        problem = f"shape: got {got_a.shape}, expected {tuple(shape)}"
        if ref_a.shape != tuple(shape):
            problem += f" (the reference has {ref_a.shape})"
    elif got_a.dtype != np.dtype(dtype) or ref_a.dtype != ref_dtype:
        problem = f"dtype: got {got_a.dtype}, expected {np.dtype(dtype)}"
        if ref_a.dtype != ref_dtype:
            problem += f" (the reference has {ref_a.dtype}, expected {ref_dtype})"
    elif not np.all(np.isfinite(got_a)):
        problem = f"non-finite: {int(np.size(got_a) - np.count_nonzero(np.isfinite(got_a)))} of {got_a.size} value(s)"
    elif not np.all(np.isfinite(ref_a)):
        problem = f"non-finite: {int(np.size(ref_a) - np.count_nonzero(np.isfinite(ref_a)))} value(s) in the reference"
    comparable = got_a.shape == ref_a.shape and np.all(np.isfinite(got_a)) and np.all(np.isfinite(ref_a))
    diff = np.abs(got_a.astype(np.float64) - ref_a.astype(np.float64)) if comparable else None
    max_abs = float(np.max(diff)) if comparable and diff.size else (0.0 if comparable else float("inf"))
    max_rel = relative_error(got_a, ref_a) if comparable else float("inf")
    if floor > 0 and comparable and ref_a.size and not np.any(ref_a):  # a zero truth: the problem's scale
        max_rel = max_abs / max(floor, float(np.max(np.abs(got_a))))
    if problem is None and not max_rel <= rtol:
        problem = f"value: relative error {max_rel:.3g} > {rtol:.3g}"
    worst: tuple[Any, ...] = (None, None, None)
    if comparable and diff.size:
        at = np.unravel_index(int(np.argmax(diff)), diff.shape)
        worst = (tuple(int(i) for i in at), float(got_a[at].real), float(ref_a[at].real))
    return Check(quantity, max_abs, max_rel, rtol, problem, *worst)


def compare_results(
    got: tuple[Any, Grads],
    ref: tuple[Any, Grads],
    *,
    rtol: float,
    dtype: Any,
    dims: tuple[int, int, int, int],
    ref_dtype: Any = None,
    loss_floor: float = 0.0,
) -> list[Check]:
    """Compare ``(loss, grads)`` pairs quantity by quantity; ``dims`` is (N, D, H, C);
    ``loss_floor`` the loss's scale where its truth is 0 (:func:`zero_truth_floor`)."""
    shapes = expected_shapes(*dims)
    got_q = dict(zip(QUANTITIES, (got[0], *got[1])))
    ref_q = dict(zip(QUANTITIES, (ref[0], *ref[1])))
    return [
        check_quantity(q, got_q[q], ref_q[q], rtol=rtol, dtype=dtype, shape=shapes[q], ref_dtype=ref_dtype,
                       floor=loss_floor if q == "loss" else 0.0)
        for q in QUANTITIES
    ]


def format_failures(checks: Iterable[Check]) -> str:
    """One line per failed check (empty when all passed)."""
    return "\n".join(f"  {c.quantity}: {c.problem}" for c in checks if not c.passed)


def assert_results_match(got: tuple[Any, Grads], ref: tuple[Any, Grads], **kwargs: Any) -> list[Check]:
    """:func:`compare_results`, raising one ``AssertionError`` that lists *every* failing quantity."""
    checks = compare_results(got, ref, **kwargs)
    failures = format_failures(checks)
    if failures:
        raise AssertionError("mismatch against the reference:\n" + failures)
    return checks


def check_case(
    ours: Callable, reference: Callable, params: Any, x: np.ndarray, y: np.ndarray, *, rtol: float
) -> list[Check]:
    """Run ``ours`` on the case in its dtype and ``reference`` on the float64 rounding of the
    same arrays (the truth for a float32 case; the identical arrays for a float64 case)."""
    dtype = params.W1.dtype
    N, D = x.shape
    H, C = params.W2.shape
    got = ours(params, x, y)
    ref = reference_result(reference, params, x, y)
    floor = 0.0 if np.any(ref[0]) else zero_truth_floor(params, x, y, getattr(reference, "keywords", {}).get("spec"))
    return compare_results(got, ref, rtol=rtol, dtype=dtype, ref_dtype=np.float64, dims=(N, D, H, C), loss_floor=floor)


def reference_result(reference: Callable, params: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, Grads]:
    """``reference`` on the float64 rounding of the case: the identical arrays for a float64
    case, and for a float32 case the truth of the same float32-rounded numbers."""
    from .network import Params

    if params.W1.dtype == np.float64:
        return reference(params, x, y)
    y64 = y if np.issubdtype(y.dtype, np.integer) else y.astype(np.float64)
    return reference(Params(*(p.astype(np.float64) for p in params)), x.astype(np.float64), y64)
