"""Every tolerance of the project, with its reason.  Nothing else hard-codes one.

Metric (unless a name says otherwise): the relative error of the largest magnitude,
``max|a - b| / max(max|a|, max|b|)`` over a whole array (0 when both are exactly zero):
see :func:`scratch.compare.relative_error`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPS64 = float(np.finfo(np.float64).eps)  # 2.2e-16
EPS32 = float(np.finfo(np.float32).eps)  # 1.2e-7

#: float64, scratch vs an autograd oracle.  Both evaluate the same smooth functions in
#: float64; they differ only in summation order and libm, worst seen ~1e-15.  A real
#: gradient bug gives O(1) errors; 1e-10 leaves five decades of room for accumulation
#: in long dot products and still fails anything wrong (CS231n: above 1e-7 is a bug).
FLOAT64_ORACLE_RTOL = 1e-10

#: float64, staged route vs fused route: the same derivative two ways (Jacobian VJP and
#: closed form); worst seen a few ulps.
ROUTE_RTOL = 1e-12


def float32_rtol(N: int, D: int, H: int, C: int) -> float:
    """float32 scratch vs the float64 truth (an oracle in float64 on the float32-rounded inputs).

    Reason: each output is a chain of rounded dot products.  A dot product of length K has
    a rounding error bounded by about K * eps (sqrt(K) * eps typically); the longest chain is
    dW1 = x^T (dz2 W2^T * tanh'), through lengths N, C, H and D.  We allow
    ``8 * eps32 * (sqrt(N) + sqrt(D) + sqrt(H) + sqrt(C))`` relative to the largest
    magnitude: 2.5e-5 for the seed network (1, 2, 500, 2), 3.7e-5 for (256, 64, 128, 10).
    The factor 8 covers the tanh/exp/log ulps and the conditioning of the softmax.
    Measured over the default sweep (10 shapes x 4 target kinds x 7 seeds) the worst case
    uses 13% of this bound (3.3e-6 on dz2 for the seed network), the typical one 1-4%.
    """
    return 8 * EPS32 * float(np.sqrt(N) + np.sqrt(D) + np.sqrt(H) + np.sqrt(C))


def oracle_rtol(dtype: Any, shape: tuple[int, int, int, int]) -> float:
    """The tolerance for comparing a ``dtype`` scratch result with the truth for ``shape``."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return FLOAT64_ORACLE_RTOL
    if dt == np.float32:
        return float32_rtol(*shape)
    raise TypeError(f"no tolerance for dtype {dt}")
