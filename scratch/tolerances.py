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

#: Where the true value is exactly 0 everywhere (the loss with C = 1: the log-softmax of a single
#: class is 0), the relative error of the largest magnitude is 1 for *any* non-zero rounding
#: error, so a correct ``z2 - logsumexp(z2)`` that leaves 1e-15 reads as a total failure and hides
#: the real signature.  There the error is measured against an absolute floor, the problem's
#: scale for that quantity (:func:`scratch.compare.zero_truth_floor`): the size of the terms that
#: cancel, max(1, max|z2|) times the largest row mass of the targets (times N for a summed loss).
#: The check stays ``error / scale <= rtol``, so the absolute tolerance is tied to the dtype through
#: :func:`oracle_rtol`: 1e-10 x scale in float64, ~2e-5 x scale in float32.  A rounding error of
#: z2 - logsumexp(z2) is a few eps x |z2| (1e-15 on logits of order 1; float32: ~1e-7); a wrong
#: loss there (a penalty or a constant added) is of order 1e-3 or more and still fails.  The floor is
#: never below this (logits near 0 still cancel at the scale of the log's argument, 1).
ZERO_TRUTH_MIN_SCALE = 1.0

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


#: float64, a whole training run (:mod:`scratch.lab.train`) against its PyTorch and JAX twins:
#: the relative difference of each parameter array after 200 steps, and of the loss at every
#: step (elementwise).  Each step's gradient agrees to ~1e-15 (FLOAT64_ORACLE_RTOL's worst
#: seen); in a run that does not amplify perturbations the differences add up linearly, so
#: 200 steps end near 1e-14 (worst seen 1e-14 on moons and spirals, full and mini-batch,
#: momentum 0.9, weight decay 1e-3).  1e-9 (the issue's bound) leaves five decades, and still
#: fails any convention mismatch (decay after momentum, dampening, v_0 = 0): those move the end
#: point by 1e-3 or more.  It presumes a stable run: where the dynamics are chaotic (too large a
#: learning rate), a 1-ulp change of theta_0 alone moves the end point by up to O(1), and no
#: two implementations can agree; ``python -m scratch train`` reports that sensitivity.
TRAIN_FLOAT64_RTOL = 1e-9


def train_float32_rtol(steps: int) -> float:
    """float32 training run vs its float32 twin after ``steps`` updates: ``4 * eps32 * steps``.

    Reason: the two frameworks compute each step's gradient with different summation orders
    and tanh/exp implementations, so each update differs by a few eps32 relative to the
    parameter scale (the update eta v is at most of the parameters' size, and its own relative
    error is ~eps32 times a small factor; see :func:`float32_rtol`).  In a stable run (one that
    does not amplify a 1-ulp perturbation of theta_0) these per-step differences add up at most
    linearly, so after K steps they stay below ``c * eps32 * K``; c = 4 covers the factor.
    9.5e-5 for K = 200; worst seen 6.5e-6 (7% of it) over moons and spirals x 4 seeds x
    {full batch, mini-batch 32, plain} with H = 16; 3.8e-5 on spirals full-batch with H = 8, a run
    that already amplifies a little (its float64 twins differ by 1e-13).  A run that amplifies a
    1-ulp perturbation of theta_0 ~260-fold (moons, batch 32, lr 0.5, momentum 0.9) exceeds it
    (1.4e-4), as it should: ``python -m scratch train`` says so.  A convention bug moves the end
    point by 1e-3 or more.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    return 4 * EPS32 * float(steps)


def train_rtol(dtype: Any, steps: int) -> float:
    """The parameter and loss agreement expected between training twins in ``dtype`` after ``steps`` updates."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return TRAIN_FLOAT64_RTOL
    if dt == np.float32:
        return train_float32_rtol(steps)
    raise TypeError(f"no training tolerance for dtype {dt}")

#: float32 accuracy goal (issue 3, part 3), elementwise (scratch.lab.accuracy, eq. (E)) against the
#: exact gradients of the float32-rounded inputs, on confident (logit gap 17-23) and saturated
#: (|z1| 10.5-21) cases.  dz2's entries are single terms, each exp(z2 - max z2)/(1+T)/N: its
#: error is the float32 rounding of z2 (~1e-5 absolute on logits of ~20) passed through exp,
#: worst seen 8.8e-6 over 40 seeds.  The textbook (yhat - y)/N gives exactly 1.
ACCURACY_DZ2_GOAL = 1e-4

#: dz1 = (dz2 W2^T) * sech^2(z1): the same z2 rounding, plus z1's through sech^2 (an absolute
#: error dz1 in z1 is a relative error 2 |dz1| in sech^2 z1 ~ 4 e^{-2|z1|}), measured against the size of the terms of
#: dz2 W2^T (eq. (E)): worst seen 1.7e-5 over 40 seeds (1.9e-3 without the floor, where
#: dz2 W2^T cancels with condition number 1.1e4; see scratch.lab.accuracy).  1 - a1^2 gives 1.
ACCURACY_DZ1_GOAL = 1e-3

#: float64 scratch (fused) vs the 60-digit truth on the same cases, eq. (E): two independent
#: ways to the exact gradients (cancellation-free float64 algebra; textbook formulas at 60
#: digits) must agree to float64 rounding: worst seen 1.7e-14 (dz1).  1e-12 leaves ~50x room.
ACCURACY_FLOAT64_AGREEMENT = 1e-12

#: How much worse a framework's float32 dz2, dz1 and loss must be on those cases for the
#: demonstration to stand: torch and JAX compute 1 - yhat_c, log(1 + T) and 1 - a1^2 in
#: float32, which round to 0 there: elementwise error exactly 1 (measured 1.0 for all three).
#: 0.5 still means "half the value is wrong"; if a framework ever fixes this the test says so.
FRAMEWORK_CANCELLATION_MIN_ERROR = 0.5


#: The workspace's dz1 = da1 / cosh(z1)**2 against mpmath's da1 * sech(z1)**2 (da1 exact),
#: elementwise, in units in the last place of the true value (where it is a normal number).
#: Reason: cosh is rounded (1-2 ulp in NumPy's vectorised code), squaring doubles its relative
#: error and the division adds 0.5 ulp: up to ~5 ulp.  Measured: 3.0 ulp (float64), 4.9 ulp
#: (float32) over |z| in [1e-12, saturation]; the core's da1 * 4u/(1+u)^2 measures 4.0 / 3.5.
#: A formula with cancellation (1 - tanh^2) is off by 1e16 ulp where |z| > 19.  The polynomial
#: paths (scratch.fast_tanh: tanh' = 4u / (1 + u)^2 from a polynomial u) measure 3.0 / 3.6 ulp
#: ("poly", float64 / float32) and 4.0 / 4.2 ("numba"); "numpy" 4.0 / 3.0 on the same points.
WORKSPACE_DZ1_ULP = 6.0

#: a1 = tanh(z1) of the workspace's polynomial path (scratch.fast_tanh), elementwise against
#: mpmath, in ulps of the true value.  Reason: q = expm1(-2 rho) carries ~1 ulp (the polynomial's
#: own error is 0.1-0.2 ulp, Horner's rounding the rest), the quotient (1 - u) / (1 + u) adds
#: one rounding per operand and one for the division: up to ~3 ulp.  Measured (the test's 1,050
#: points): "poly" 2.0 ulp (float64) and 1.9 (float32), "numba" (a reciprocal, then products) 2.0 and
#: 2.2; NumPy's own np.tanh measures 1.0 / 1.3 on the same points.
FAST_TANH_ULP = 3.0

#: Peak bytes traced by ``tracemalloc`` during one workspace step (after two warm-ups) of the
#: 1024-64-512-10 case: the issue's bound.  What remains are Python objects (views, the scalar
#: loss) and NumPy's ufunc buffers of 1024 elements (8 KiB); measured 9.6 KiB with labels,
#: 18 KiB with float targets (the masked sum over k != argmax).
WORKSPACE_STEP_PEAK_BYTES = 64 * 1024

#: float64, one quantity computed two ways that agree in exact arithmetic and differ only in
#: rounding (the property tests of tests/test_properties.py: the 1/N by a duplicated batch,
#: a permuted batch, linearity in y, a shift of b2, the bias as a weight on a constant input,
#: (yhat - y)/N against the fused dz2, a VJP with and without J).  Each side is a handful of
#: float64 operations on well-conditioned values: a few ulps (worst seen ~1e-15); 1e-12 leaves
#: three decades and is still a million times below any formula error (O(1e-3) or more).
IDENTITY_RTOL = 1e-12


def sum_atol(n_terms: int) -> float:
    """Rounding bound for a float64 sum of ``n_terms`` terms, relative to the sum of their
    magnitudes: ``n_terms * eps64`` (Higham's gamma_{n-1} bound, rounded up).  For identities
    like "rows of dz2 sum to 0" or "softmax rows sum to 1", where the exact answer is known."""
    return n_terms * EPS64


# --------------------------------------------------------------------------------------------
# Second order (issue 12): scratch.curvature's hvp / gnvp
# --------------------------------------------------------------------------------------------

#: float32 H v and G v against the float64 truth, in units of the first-order bound
#: :func:`float32_rtol`.  Reason: the R-pass is the gradient's chain twice (the forward R-pass
#: (1R)-(3R), then the backward one (4'R)-(1'R)), so twice the roundings; and H v adds three
#: terms (G v, the cross term, the tanh'' term) that may cancel.  Measured over the sweep (10
#: shapes x 4 target kinds x 7 seeds, N(0, 1) directions): with the tests' directions worst 0.33
#: (H v) and 0.44 (G v); with another draw of directions 1.49 (shape h1, seed 4, unnormalised
#: targets: R{db1} with H = 1 is one number, -0.648 + 0.264 + 0.404 = 0.0203, a 32-fold
#: cancellation of the three terms); the confident, saturated cases of scratch.lab.accuracy <= 0.49.
#: 4 leaves 2.7x room over the worst seen.
CURVATURE_FLOAT32_FACTOR = 4.0


def curvature_rtol(dtype: Any, shape: tuple[int, int, int, int]) -> float:
    """The tolerance for a ``dtype`` H v or G v against the float64 truth for ``shape``.

    float64: :data:`FLOAT64_ORACLE_RTOL` (1e-10; worst seen over the sweep 1.0e-14 against JAX,
    7.3e-15 torch.func, 9.2e-15 the complex step for H v; 8.5e-15 / 7.5e-15 for G v).  float32: ``CURVATURE_FLOAT32_FACTOR * float32_rtol(shape)``.
    """
    dt = np.dtype(dtype)
    if dt == np.float64:
        return FLOAT64_ORACLE_RTOL
    if dt == np.float32:
        return CURVATURE_FLOAT32_FACTOR * float32_rtol(*shape)
    raise TypeError(f"no tolerance for dtype {dt}")


#: float64, gnvp's staged route (the C x C blocks through d²L/dyhat² and the softmax's Hessian,
#: 1 - a1^2 for tanh') against its fused route: the same product two ways.  The staged blocks
#: hold y / yhat^2 terms that cancel to (s/N) J (eq. (4'')), so a few more ulps than the
#: first-order ROUTE_RTOL; worst seen 1.3e-14 over the sweep (tall, one-hot).  1e-12 as for the
#: first order: still 1e9 times below a formula error.
CURVATURE_ROUTE_RTOL = 1e-12

#: Symmetry of a dense Hessian assembled from P Hessian-vector products: max|H - H^T| / max|H|.
#: Each column is computed independently, so the two sides differ by rounding only (a few ulps
#: of the largest entry; worst seen 3.1e-16 on the tiny shapes): :data:`IDENTITY_RTOL`'s reasoning applies.
SYMMETRY_RTOL = IDENTITY_RTOL


def eigenvalue_atol(P: int) -> float:
    """How negative the smallest eigenvalue of a PSD matrix of size P may come out of
    ``numpy.linalg.eigvalsh``, relative to its largest: ``P * eps64``.  Reason: the computed
    eigenvalues are exact for a matrix within ~P eps ||G|| (backward stability of the symmetric
    QR algorithm), so zero eigenvalues come out as +-P eps ||G|| (worst seen -3.2e-16 relative,
    P <= 51, against a bound of 1.1e-14).  A wrong G (missing s_n with negative weights, a sign) gives O(1)."""
    return P * EPS64


#: Lanczos (scipy.sparse.linalg.eigsh on hvp/gnvp) against the dense spectrum (numpy eigvalsh of
#: the assembled matrix), relative to the largest |eigenvalue|: eigsh runs to machine precision
#: (tol=0), and both are backward stable; worst seen 4.1e-15 on the tiny shapes.  1e-10.
LANCZOS_RTOL = 1e-10

#: float64 R{dz1} against the complex step on the confident, saturated cases
#: (scratch.cases.confident_case, |z1| up to 21), elementwise (plain |a - b| / |b|): both
#: compute sech^2 and tanh'' without cancellation (4u/(1+u)^2 here, 1/cosh^2 there), so they
#: agree to rounding even where tanh rounds to +-1; worst seen 1.8e-11 over 12 seeds (an entry
#: where the two terms of (2'R), R{da1} tanh' and da1 tanh'' R{z1}, cancel), 2e-13 typical.
#: 1e-10 leaves 5x; the frameworks' 1 - a1^2 there is off by a factor (torch: exactly 0, error
#: 1; JAX on CPU: its tanh stops 7 ulps below 1, errors up to ~100).
CURVATURE_SATURATED_FLOAT64_RTOL = 1e-10

#: How far beyond the float32 curvature bound the frameworks' float32 H v must land on those
#: confident cases for the demonstration to stand: torch and JAX compute the softmax's second
#: derivative from yhat with yhat_m rounded to 1, where r_m - yhat . r cancels (measured
#: 5.9e4-6.4e4 times the bound; scratch's argmax-shifted (4'R): 0.08-0.36).  100 still means
#: "two decades worse than the bound".
FRAMEWORK_CURVATURE_MIN_EXCESS = 100.0
