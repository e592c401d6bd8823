r"""Numerical oracle: every gradient from loss evaluations alone, no derivative written by hand.

Three difference quotients for a scalar function f at a point θ, perturbing one entry at a time
(``e_i`` the i-th unit vector):

.. math::

    \text{forward:}\quad \frac{f(\theta + h e_i) - f(\theta)}{h}
        = f'_i + \tfrac{h}{2} f''_{ii} + O(h^2)                                        \;(F)

    \text{central:}\quad \frac{f(\theta + h e_i) - f(\theta - h e_i)}{2h}
        = f'_i + \tfrac{h^2}{6} f'''_{iii} + O(h^4)                                     \;(C)

    \text{complex step:}\quad \frac{\operatorname{Im} f(\theta + \mathrm{i} h e_i)}{h}
        = f'_i - \tfrac{h^2}{6} f'''_{iii} + O(h^4)                                     \;(S)

(F) and (C) subtract two nearly equal numbers: each f carries a rounding error of about
ε|f|, so the quotient has a round-off error of about ε|f|/h on top of the truncation error.
Balancing ``h²|f'''|/6`` against ``ε|f|/h`` gives the central step used here,

.. math:: h_i = \varepsilon^{1/3} \max(1, |\theta_i|)                                   \;(H)

(6.1e-6 in float64, 4.9e-3 in float32; the ``max(1, |θ_i|)`` keeps the step above the
spacing of θ_i's own floating-point neighbours), for an error of about ε^{2/3}
(~4e-11 relative to |f| in float64).  Forward differences balance ``h|f''|/2`` against
``ε|f|/h`` instead: ``h = ε^{1/2} max(1, |θ_i|)``, error ~ε^{1/2}.  ``θ ± h`` are rounded to
floats and the quotient divides by the step actually taken, ``(θ + h) - (θ - h)``.

(S) (Squire & Trapp 1998) has **no subtraction**: the derivative is read from the imaginary
part, so h can be 1e-20 and the truncation term h²f'''/6 vanishes below float64's
resolution; the result is accurate to a few ulps.  It needs f to be analytic and evaluated
in complex arithmetic: ``tanh``, ``exp``, ``log1p`` and matrix products are, and the
softmax's max-shift (:func:`scratch.softmax.log_softmax`) picks the maximum of the *real*
part of the logits and subtracts it, which is a constant shift (softmax is shift invariant),
so the function stays analytic (the argmax of the real part is locally constant).  There is
no ``abs`` and no comparison of complex values on the path.  Complex step needs complex128, so it is float64 only.

:func:`loss_and_grads` gives dW1, db1, dW2, db2 by perturbing the parameters and dz2, dz1 by
perturbing the intermediates, through partial forward passes built here from z2 (eqs. 5-7)
and from z1 (eqs. 2-7).  It costs O(#parameters + N(H + C)) loss evaluations: keep the
problems small.  :func:`directional_check` checks a big network with one random direction
and one or two loss evaluations (like ``torch.autograd.gradcheck(fast_mode=True)``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from oracles import as_result
from scratch.checks import check_inputs
from scratch.compare import relative_error
from scratch.network import Grads, Params, _forward, _loss, loss, one_hot
from scratch.activations import activate
from scratch.softmax import log_softmax
from scratch.spec import SEED, NetworkSpec, as_spec

#: Methods of :func:`loss_and_grads` (the two accurate ones).
METHODS = ("central", "complex")
#: Methods of :func:`partial_derivatives` (forward differences too, for the step-size study).
ALL_METHODS = ("forward", "central", "complex")
#: The complex step: far below any truncation error, far above the smallest subnormal.
COMPLEX_STEP = 1e-20


def default_step(theta: np.ndarray, method: str = "central") -> np.ndarray:
    r"""The finite-difference step: (H) :math:`h_i = \varepsilon^{1/3} \max(1, |\theta_i|)` for
    central differences, :math:`\varepsilon^{1/2} \max(1, |\theta_i|)` for forward differences
    (balancing :math:`h|f''|/2` against :math:`\varepsilon|f|/h` instead).

    Parameters
    ----------
    theta : float32 or float64 array, any shape
        The point; ε is the machine epsilon of its dtype.
    method : {"central", "forward"}

    Returns
    -------
    Array of the same shape and dtype.
    """
    if method not in ("central", "forward"):
        raise ValueError(f"method must be 'central' or 'forward' for a finite-difference step, got {method!r}")
    eps = np.finfo(theta.dtype).eps
    root = np.cbrt(eps) if method == "central" else np.sqrt(eps)
    return (root * np.maximum(1.0, np.abs(theta))).astype(theta.dtype)


def _require_float64(dtype: np.dtype, name: str) -> None:
    if dtype != np.float64:
        raise TypeError(
            f"{name}: the complex step needs float64 inputs (it computes in complex128), got {dtype}; "
            "use method='central' for float32"
        )


def partial_derivatives(
    f: Callable[[np.ndarray], Any], theta: np.ndarray, *, method: str = "central", h: float | None = None
) -> np.ndarray:
    """Every partial derivative of a scalar function ``f`` at ``theta``, one entry at a time.

    Parameters
    ----------
    f : callable
        ``f(array shaped like theta) -> scalar``; must accept complex128 for ``method="complex"``.
    theta : float array, any shape
        The point (not modified).
    method : {"forward", "central", "complex"}
        Eqs. (F), (C), (S) of the module docstring.
    h : float, optional
        One absolute step for every entry.  Default: :func:`default_step` for forward and
        central, :data:`COMPLEX_STEP` for complex.

    Returns
    -------
    Array of ``theta``'s shape and dtype: ``df/dtheta``.
    """
    if method not in ALL_METHODS:
        raise ValueError(f"method must be one of {ALL_METHODS}, got {method!r}")
    if method == "complex":
        _require_float64(theta.dtype, "theta")
    if h is not None and not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite step, got {h!r}")
    grad = np.empty(theta.shape, dtype=theta.dtype)
    if method == "complex":
        step = COMPLEX_STEP if h is None else h
        t = theta.astype(np.complex128)
        for i in np.ndindex(theta.shape):
            t[i] = theta[i] + 1j * step
            grad[i] = np.imag(f(t)) / step  # (S) Im f(θ + i h e_i) / h
            t[i] = theta[i]
        return grad
    steps = default_step(theta, method) if h is None else np.full(theta.shape, h, dtype=theta.dtype)
    t = theta.copy()
    f0 = f(t) if method == "forward" else None
    for i in np.ndindex(theta.shape):
        up = theta[i] + steps[i]  # rounded: the step actually taken is up - theta[i]
        t[i] = up
        f_up = f(t)
        if method == "forward":
            grad[i] = (f_up - f0) / (up - theta[i])  # (F)
        else:
            down = theta[i] - steps[i]
            t[i] = down
            grad[i] = (f_up - f(t)) / (up - down)  # (C), up - down ~ 2h
        t[i] = theta[i]
    return grad


def param_grads(
    params: Params, x: np.ndarray, y: np.ndarray, *, method: str = "central", h: float | None = None,
    spec: NetworkSpec = SEED,
) -> Params:
    """dW1, db1, dW2, db2 by perturbing each parameter of :func:`scratch.loss` (the whole forward).

    The inputs are validated once, here; each perturbed evaluation then runs scratch.loss's
    own eqs. (1)-(7) (``_forward`` and ``_loss``) without validating them again.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    y : (N,) int labels or (N, C) float targets
    method : {"forward", "central", "complex"}
    h : float, optional
        One absolute step for every entry (see :func:`partial_derivatives`); the step-size
        study sweeps it.
    spec : scratch.NetworkSpec (the member of the family; default the seed network)

    Returns
    -------
    Params of gradients, each shaped and typed like its parameter.
    """
    spec = as_spec(spec)
    *_, is_labels = check_inputs(params, x, y)
    # one dtype for all four arrays: complex128 ones around a complex entry
    base = params.astype(np.complex128) if method == "complex" else params

    def with_entry(field: str) -> Callable[[np.ndarray], Any]:
        def f(t: np.ndarray) -> Any:  # = scratch.loss
            p = base._replace(**{field: t})
            return _loss(_forward(p, x, spec).log_yhat, y, is_labels, spec, p)
        return f

    return Params(*(partial_derivatives(with_entry(k), p, method=method, h=h) for k, p in zip(Params._fields, params)))


def loss_from_z2(z2: np.ndarray, Y: np.ndarray, reduction: str = "mean") -> Any:
    """Eqs. (5)-(7) from the logits: the forward pass after z2 (complex-capable).

    Parameters
    ----------
    z2 : (N, C) logits, real or complex128.
    Y : (N, C) targets (one-hot for labels).
    reduction : {"mean", "sum"} (eq. 7)

    Returns
    -------
    Scalar loss of z2's dtype (the data loss: without any L2 penalty).
    """
    log_yhat = log_softmax(z2)  # (4)-(5) l = log softmax(z2), via log-sum-exp
    PL = np.sum(log_yhat * Y, axis=1)  # (6) PL_n = l_n . y_n          (N,)
    if reduction == "sum":
        return -np.sum(PL)  # (7) L = -sum_n PL_n
    return -np.sum(PL) / z2.shape[0]  # (7) L = -(1/N) sum_n PL_n


def loss_and_grads(
    params: Params, x: np.ndarray, y: np.ndarray, method: str | None = None, *, spec: NetworkSpec = SEED
) -> tuple[np.generic, Grads]:
    """Loss and every gradient from difference quotients; same contract as :func:`scratch.loss_and_grads`.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)); float64 (float32 for central only).
    x : (N, D)
    y : (N,) int labels or (N, C) float targets
    method : {"complex", "central"}, optional
        Complex step with h = 1e-20 (a few ulps; float64 only) or central differences with
        step (H) (relative error ~1e-10..1e-8 in float64).  Default: ``"complex"`` for float64,
        ``"central"`` for float32, so that ``oracles.get("numeric")`` meets the float64 oracle
        tolerance of ``python -m scratch compare`` like the autograd oracles do.
    spec : scratch.NetworkSpec (the member of the family; default the seed network)
        The activation is evaluated, never differentiated.  **Kinks** (relu, leaky_relu): the
        complex step takes the branch of the real part, so it is exact for every ``z1 != 0``
        (h = 1e-20 never crosses the kink) and at exactly ``z1 = 0`` returns the ``z <= 0``
        branch's slope (0 or alpha), the convention of torch and JAX; central differences are
        invalid within a step h of 0 (the quotient averages the two slopes): such entries of
        dz1, dW1, db1 are unreliable, which :func:`kink_entries` lists.  The L2 penalty (8) is
        added to the loss and so differentiated numerically with the parameters.

    Returns
    -------
    loss : scalar of the input dtype
    grads : Grads of arrays in the input dtype: dz2 (N, C), dW2 (H, C), db2 (C,), dz1 (N, H),
        dW1 (D, H), db1 (H,).  dz2 and dz1 come from perturbing z2 and z1 themselves.
    """
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    spec = as_spec(spec)
    _, _, _, C, dtype, is_labels = check_inputs(params, x, y)
    if method is None:
        method = "complex" if dtype == np.float64 else "central"
    if method == "complex":
        _require_float64(dtype, "params")
    Y = one_hot(y, C, dtype) if is_labels else y  # labels -> one-hot rows: (6) is one expression for every kind
    W1, b1, W2, b2 = params
    red = spec.reduction

    def f(z: np.ndarray) -> np.ndarray:  # (2) the activation, evaluated only
        return activate(spec.activation, z, spec.alpha)

    def R(W1_: Any, b1_: Any, W2_: Any, b2_: Any) -> Any:  # (8) the penalty, evaluated only
        return spec.penalty(Params(W1_, b1_, W2_, b2_)) if spec.l2 else 0.0

    z1 = x @ W1 + b1  # (1) z1 = x W1 + b1      (N, H)
    a1 = f(z1)  # (2) a1 = f(z1)                (N, H)
    z2 = a1 @ W2 + b2  # (3) z2 = a1 W2 + b2    (N, C)
    R0 = R(W1, b1, W2, b2)

    def from_z1(z: np.ndarray) -> Any:  # eqs. (2)-(7) as a function of z1
        return loss_from_z2(f(z) @ W2 + b2, Y, red)

    def d(fn: Callable[[np.ndarray], Any], theta: np.ndarray) -> np.ndarray:
        return partial_derivatives(fn, theta, method=method)

    L = loss_from_z2(z2, Y, red) + R0
    return as_result(
        "numeric",
        dtype,
        np.asarray(L, dtype=dtype) if spec.l2 else L,
        dz2=d(lambda z: loss_from_z2(z, Y, red), z2),
        dW2=d(lambda W: loss_from_z2(a1 @ W + b2, Y, red) + R(W1, b1, W, b2), W2),
        db2=d(lambda b: loss_from_z2(a1 @ W2 + b, Y, red) + R(W1, b1, W2, b), b2),
        dz1=d(from_z1, z1),
        dW1=d(lambda W: from_z1(x @ W + b1) + R(W, b1, W2, b2), W1),
        db1=d(lambda b: from_z1(x @ W1 + b) + R(W1, b, W2, b2), b1),
    )


def kink_entries(params: Params, x: np.ndarray, *, spec: NetworkSpec = SEED, method: str = "central") -> np.ndarray:
    """The (N, H) mask of hidden units that a central-difference step can carry across a kink,
    where central differences are invalid for relu and leaky_relu (they average the two slopes).

    A unit (n, j) is flagged when ``|z1[n, j]|`` is at most the largest change of z1 that one
    step makes: the step for z1 itself (dz1), for b1[j] (db1) and ``max_d |x[n, d]| h(W1[d, j])``
    (dW1), each step ``eps^(1/3) max(1, |theta|)``.  All False for smooth activations and for the
    complex step (its branch is chosen on the real part: it never crosses the kink).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    spec : scratch.NetworkSpec (the member of the family; default the seed network)
    method : "central" (default), "forward" or "complex"
    """
    spec = as_spec(spec)
    check_inputs(params, x)
    z1 = x @ params.W1 + params.b1  # (1)
    if spec.activation not in ("relu", "leaky_relu") or method == "complex":
        return np.zeros(z1.shape, dtype=bool)
    reach_w1 = np.max(np.abs(x)[:, :, None] * default_step(params.W1, method)[None], axis=1)  # (N, H)
    reach = np.maximum(np.maximum(default_step(z1, method), reach_w1), default_step(params.b1, method)[None])
    return np.abs(z1) <= reach


def _norm(arrays: Params) -> float:
    """Euclidean norm of all the arrays together, as one vector."""
    return float(np.sqrt(sum(np.vdot(a, a).real for a in arrays)))


class Directional(NamedTuple):
    """Outcome of :func:`directional_check`.

    Attributes
    ----------
    numeric : float
        The directional derivative ``dL(θ + t v)/dt`` at t = 0 from loss evaluations.
    analytic : float
        ``<grads, v>`` summed over W1, b1, W2, b2.
    rel_error : float
        ``|numeric - analytic| / max(|numeric|, |analytic|)``.
    method : str
    h : float
        The step along v.
    """

    numeric: float
    analytic: float
    rel_error: float
    method: str
    h: float


def directional_check(
    params: Params, x: np.ndarray, y: np.ndarray, grads: Grads | Params, *, rng: Any, method: str = "complex"
) -> Directional:
    r"""Check parameter gradients along one random direction (gradcheck's fast mode).

    Draws ``v`` with N(0, 1) entries shaped like the parameters and compares

    .. math:: \frac{d}{dt} L(\theta + t v)\Big|_{t=0} = \langle \nabla L, v \rangle

    computed from the loss alone (one complex evaluation for ``"complex"``, eq. (S); two for
    ``"central"``, eq. (C) with :math:`t = \varepsilon^{1/3} \max(1, \|\theta\|) / \|v\|`, which is
    (H) for the whole vector: the parameters move by ε^{1/3} relative to their norm) with the
    dot product of ``grads`` and ``v``.  A wrong gradient fails it unless its error is
    orthogonal to a random v (probability 0), at the cost of a forward pass or two, so a
    784-1024-10 network checks in well under a second.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    y : (N,) int labels or (N, C) float targets
    grads : Grads or Params
        The gradients under test (a Grads' dW1, db1, dW2, db2 are used).
    rng : numpy.random.Generator or int
        Source of the direction.
    method : {"complex", "central"}

    Returns
    -------
    Directional
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _, _, _, _, dtype, _ = check_inputs(params, x, y)
    g = grads.params_grads() if isinstance(grads, Grads) else grads
    for name, gi, p in zip(("dW1", "db1", "dW2", "db2"), g, params):
        if not isinstance(gi, np.ndarray) or gi.shape != p.shape:
            got = gi.shape if isinstance(gi, np.ndarray) else type(gi).__name__
            raise ValueError(f"grads.{name} must be an array of shape {p.shape} like the parameters, got {got}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    v = Params(*(rng.standard_normal(p.shape) for p in params))
    analytic = float(sum(np.vdot(gi.astype(np.float64), vi) for gi, vi in zip(g, v)))
    if method == "complex":
        _require_float64(dtype, "params")
        h = COMPLEX_STEP
        numeric = float(np.imag(loss(Params(*(p + 1j * h * vi for p, vi in zip(params, v))), x, y))) / h  # (S)
    else:
        h = float(np.cbrt(np.finfo(dtype).eps) * max(1.0, _norm(params)) / _norm(v))  # (H) for the whole vector
        up = loss(Params(*((p + h * vi).astype(dtype) for p, vi in zip(params, v))), x, y)
        down = loss(Params(*((p - h * vi).astype(dtype) for p, vi in zip(params, v))), x, y)
        numeric = float(up - down) / (2 * h)  # (C)
    return Directional(numeric, analytic, relative_error(numeric, analytic), method, h)
