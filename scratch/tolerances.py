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

#: float64, scratch vs the complex-step oracle (oracles.numeric, method="complex", h = 1e-20).
#: Complex step has no subtractive cancellation and its truncation error h^2 f'''/6 ~ 1e-40 is
#: far below resolution, so it is as exact as a forward pass: worst seen 8.7e-15 over the
#: small shapes x target kinds.  1e-13 is the issue's bound (a few dozen ulps of room).
COMPLEX_STEP_RTOL = 1e-13

#: float64, scratch vs central differences (oracles.numeric, method="central", h =
#: eps^(1/3) max(1, |theta|)).  Truncation h^2 f'''/6 and round-off eps |L| / h balance at
#: ~eps^(2/3) = 4e-11 relative to |L|; relative to a gradient that is ~1/N of the loss it is
#: ~N times more (worst seen 9.5e-9, N = 32).  1e-7 is CS231n's threshold for smooth functions.
CENTRAL_DIFFERENCE_RTOL = 1e-7

#: float64, forward differences (step eps^(1/2) max(1, |theta|)): truncation h f''/2 and
#: round-off eps |f| / h balance at ~eps^(1/2) = 1.5e-8 relative to |f|; worst seen 1.2e-7
#: relative to a gradient ~1/N of the loss.  Used for the step-size study and its tests only:
#: forward differences are never an oracle here.
FORWARD_DIFFERENCE_RTOL = 1e-5

#: float64, directional derivative <grad, v> vs the complex-step dL(theta + i h v)/h along one
#: random direction v (oracles.numeric.directional_check).  The analytic side is a dot product
#: over every parameter (P = 814,090 for 784-1024-10) whose rounding error is ~sqrt(P) eps
#: sum|g_i v_i|, and with random signs sum|g_i v_i| exceeds |<g, v>| by up to ~sqrt(P): a bound
#: of ~P eps = 2e-10 relative; worst seen 2e-13.  1e-10 still fails a dW1 off by 1e-6 (3e-7).
DIRECTIONAL_COMPLEX_RTOL = 1e-10

#: float64, the same with central differences along v (step eps^(1/3) max(1, |theta|) / |v|):
#: worst seen 6e-9 on 784-1024-10; the central-difference bound above applies.
DIRECTIONAL_CENTRAL_RTOL = CENTRAL_DIFFERENCE_RTOL
