r"""The second derivative, by hand: Hessian-vector and Gauss-Newton-vector products (issue 12).

Shapes as in :mod:`scratch.network`: x (N, D), W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); a
direction ``v = (V1, c1, V2, c2)`` is a :class:`~scratch.network.Params` of the same shapes.
The full derivation is in ``docs/curvature.md`` ("The second derivative").

The R-operator (Pearlmutter 1994)
---------------------------------
:math:`R\{f\} = \frac{d}{dt} f(\theta + t v)|_{t=0}`, the directional derivative along v.
Applied to the gradient it gives :math:`R\{\nabla L\} = H v`.  It obeys the rules of
differentiation, so every equation of the forward and backward pass gets an R-twin:

Forward R-pass (from (1)-(4))::

    R{z1} = x V1 + c1                                   (1R)
    R{a1} = tanh'(z1) * R{z1}                            (2R)
    R{z2} = R{a1} W2 + a1 V2 + c2                        (3R)
    R{yhat}_n = J_n R{z2}_n,  J_n = diag(yhat_n) - yhat_n yhat_n^T    (4R)

Backward R-pass (from (4')-(1'); ``s_n = sum_c y_nc``, 1 for labels)::

    R{dz2}_n = (s_n / N) J_n R{z2}_n = H_z,n R{z2}_n     (4'R)   the softmax's C x C partials, back
    R{dW2} = a1^T R{dz2} + R{a1}^T dz2,  R{db2} = sum_n R{dz2}           (3'R)
    R{da1} = R{dz2} W2^T + dz2 V2^T                      (3''R)
    R{dz1} = R{da1} * tanh'(z1) + da1 * tanh''(z1) * R{z1}               (2'R)
    R{dW1} = x^T R{dz1},  R{db1} = sum_n R{dz1}          (1'R)

and ``H v = (R{dW1}, R{db1}, R{dW2}, R{db2})``.  The terms that carry the residual ``dz2``
(``R{a1}^T dz2``, ``dz2 V2^T``, ``da1 * tanh'' * R{z1}``) are :math:`\sum_{nc} dz_{2,nc}
\nabla^2_\theta z_{2,nc}`; drop them and what is left is the Gauss-Newton product
:math:`G v = J^\top H_z J v` (J = dz2/dtheta here): the forward R-pass to R{z2} (a JVP), H_z,
then the first-order backward pass (3')-(1') applied to H_z R{z2} instead of dz2 (a VJP).

(4'R) without cancellation: :math:`J_n` annihilates constants (:math:`J_n \mathbf 1 = 0`),
so R{z2} may be shifted by its entry at the row's most probable class m: with
:math:`\tilde r = r - r_m`, :math:`J r = \hat y \circ (\tilde r - \hat y \cdot \tilde r)`,
and the m-th entry is :math:`-\hat y_m (\hat y \cdot \tilde r)` with
:math:`\hat y \cdot \tilde r = \sum_{k \ne m} \hat y_k \tilde r_k`: a sum of small terms, not a
difference of two numbers near :math:`r_m` (which in float32 loses every digit of a confident
row, exactly like ``(yhat - y)/N`` in (4')).

(2'R)'s :math:`\tanh''(z) = -2 \tanh z \operatorname{sech}^2 z` is computed from z
(:func:`tanh_second_derivative`): ``-2 a1 (1 - a1**2)`` rounds to 0 wherever tanh' does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .checks import PARAM_NAMES, check_array, check_inputs
from .compare import Check, check_quantity
from .network import Forward, Grads, Params, _forward, backward, dz2_fused, one_hot, tanh_derivative
from .softmax import softmax_jacobian
from .spec import as_spec

#: Routes of :func:`gnvp`: the H_z product in closed form, or through the C x C blocks.
GN_ROUTES = ("fused", "staged")


# --------------------------------------------------------------------------------------------
# Validation and directions
# --------------------------------------------------------------------------------------------


def check_direction(params: Params, v: Any) -> Params:
    """Validate a direction ``v`` against ``params``: a :class:`Params` whose ``W1`` (D, H),
    ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,) have the parameters' shapes and dtype, finite.

    Raises ``TypeError`` (not a Params-like object, not an array, wrong dtype) or ``ValueError``
    (wrong shape, empty, non-finite) naming the field, e.g. ``v.W1``.  Returns ``v``.
    """
    for field in PARAM_NAMES:
        if not hasattr(v, field):
            raise TypeError(f"v must have fields W1, b1, W2, b2 (a scratch.Params shaped like params), "
                            f"got {type(v).__name__}")
    for field in PARAM_NAMES:
        a = check_array(f"v.{field}", getattr(v, field))
        p = getattr(params, field)
        if a.shape != p.shape:
            raise ValueError(f"v.{field} must have the shape of params.{field} {p.shape}, got {a.shape}")
        if a.dtype != p.dtype:
            raise TypeError(f"v.{field} must have the parameters' dtype {p.dtype} (no mixed float32/float64), "
                            f"got {a.dtype}")
    return Params(*(getattr(v, f) for f in PARAM_NAMES))


def random_direction(params: Params, rng: Any) -> Params:
    """A direction with N(0, 1) entries shaped like ``params``, drawn in float64 and rounded to
    the parameters' dtype (so a float32 direction is the rounding of the float64 one).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    rng : numpy.random.Generator or int (a seed)

    Returns
    -------
    Params of the same shapes and dtype.
    """
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return Params(*(rng.standard_normal(p.shape).astype(p.dtype) for p in params))


def params_dot(a: Params, b: Params) -> float:
    """``<a, b>`` summed over W1, b1, W2, b2, in float64."""
    return float(sum(np.vdot(np.asarray(p, np.float64), np.asarray(q, np.float64)) for p, q in zip(a, b)))


# --------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------


def tanh_second_derivative(z1: np.ndarray) -> np.ndarray:
    r"""Eq. (2''): :math:`\tanh''(z) = -2 \tanh z \operatorname{sech}^2 z`, from z, without cancellation.

    ``sech^2`` is :func:`scratch.tanh_derivative`'s ``4u/(1+u)^2``, ``u = exp(-2|z|)``, and
    ``tanh z`` is NumPy's (accurate to an ulp, no subtraction).  The textbook
    ``-2 a1 (1 - a1**2)`` rounds to 0 once |a1| rounds to 1 (|z| > 9 in float32, > 19 in
    float64), although :math:`|\tanh''| \approx 8 e^{-2|z|}` is representable much further.

    Parameters
    ----------
    z1 : (N, H) float array.

    Returns
    -------
    (N, H) array of the same dtype; odd in z, 0 at z = 0, extreme :math:`\mp 4/(3\sqrt3)`
    at :math:`z = \pm\operatorname{atanh}(1/\sqrt3)`.
    """
    return -2.0 * np.tanh(z1) * tanh_derivative(z1)


class RForward(NamedTuple):
    """The forward R-pass (1R)-(3R): ``Rz1``, ``Ra1`` (N, H), ``Rz2`` (N, C)."""

    Rz1: np.ndarray
    Ra1: np.ndarray
    Rz2: np.ndarray


def r_forward(params: Params, x: np.ndarray, v: Params, fwd: Forward, tanh_grad: np.ndarray) -> RForward:
    """Eqs. (1R)-(3R): the directional derivatives of z1, a1 and z2 along ``v`` (a JVP).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    v : Params of the same shapes (V1, c1, V2, c2).
    fwd : Forward of ``(params, x)`` (needs ``a1`` (N, H)).
    tanh_grad : (N, H) tanh'(z1).

    Returns
    -------
    RForward  ``Rz1``, ``Ra1`` (N, H), ``Rz2`` (N, C).
    """
    V1, c1, V2, c2 = v
    Rz1 = x @ V1 + c1  # (1R)  R{z1} = x V1 + c1                     (N, H)
    Ra1 = tanh_grad * Rz1  # (2R)  R{a1} = tanh'(z1) * R{z1}         (N, H)
    Rz2 = Ra1 @ params.W2 + fwd.a1 @ V2 + c2  # (3R) R{z2} = R{a1} W2 + a1 V2 + c2   (N, C)
    return RForward(Rz1, Ra1, Rz2)


def target_sums(y: np.ndarray, is_labels: bool, N: int, dtype: Any) -> np.ndarray:
    """``s_n = sum_c y_nc`` (N,) in ``dtype``: 1 for labels (and one-hot, soft targets)."""
    return np.ones(N, dtype=dtype) if is_labels else y.sum(axis=1)


def logit_curvature_product(fwd: Forward, y: np.ndarray, is_labels: bool, r: np.ndarray) -> np.ndarray:
    r"""Eq. (4'R): :math:`(H_z r)_n = \frac{s_n}{N} J_n r_n`, the Hessian of L in logit space
    applied to ``r`` (N, C) without forming it, and without cancellation.

    :math:`J_n = \operatorname{diag}(\hat y_n) - \hat y_n \hat y_n^\top` annihilates constants,
    so with :math:`\tilde r_n = r_n - r_{n m}` (m the row's argmax),
    :math:`J_n r_n = \hat y_n \circ (\tilde r_n - \hat y_n \cdot \tilde r_n)`: the m-th entry is
    :math:`-\hat y_m\, \hat y \cdot \tilde r` with :math:`\hat y \cdot \tilde r = \sum_{k \ne m}
    \hat y_k \tilde r_k`, a sum of small terms on a confident row, never ``r_m - (≈ r_m)``.

    Parameters
    ----------
    fwd : Forward (``yhat`` (N, C) and ``softmax.argmax`` (N,)).
    y : labels (N,) int or targets (N, C).
    is_labels : bool
    r : (N, C) a logit-space direction, e.g. R{z2}.

    Returns
    -------
    (N, C) array, each row summing to 0.
    """
    N = r.shape[0]
    rows = np.arange(N)
    rt = r - r[rows, fwd.softmax.argmax][:, None]  # r~ = r - r_m: J 1 = 0, and r~_m = 0 exactly
    mean = np.sum(fwd.yhat * rt, axis=1)  # yhat . r~ = sum_{k != m} yhat_k r~_k          (N,)
    Jr = fwd.yhat * (rt - mean[:, None])  # (4R) J r = yhat * (r~ - yhat . r~)          (N, C)
    s = target_sums(y, is_labels, N, r.dtype)
    return Jr * (s / N)[:, None]  # (4'R) H_z r = (s / N) J r


class StagedCurvature(NamedTuple):
    r"""The C x C blocks of :math:`H_z = \partial^2 L / \partial z_2 \partial z_2^\top`, stage by stage.

    ``dyhat`` (N, C): (5') dL/dyhat = -y / (N yhat); ``d2yhat`` (N, C): (5'') the diagonal
    d²L/dyhat² = y / (N yhat²); ``jacobian`` (N, C, C): (4) J_n; ``softmax_hessian``
    (N, C, C, C): d²yhat_i/dz_j dz_k, indexed [n, i, j, k]; ``outer`` (N, C, C):
    J^T diag(d2yhat) J, the Gauss-Newton part of the softmax-and-log; ``inner`` (N, C, C):
    sum_i dyhat_i d²yhat_i/dz², the softmax's own curvature; ``blocks`` (N, C, C):
    H_z = outer + inner, which equals (s_n / N) J_n.
    """

    dyhat: np.ndarray
    d2yhat: np.ndarray
    jacobian: np.ndarray
    softmax_hessian: np.ndarray
    outer: np.ndarray
    inner: np.ndarray
    blocks: np.ndarray


def logit_curvature_staged(yhat: np.ndarray, y: np.ndarray, is_labels: bool) -> StagedCurvature:
    r"""The per-sample C x C blocks of :math:`H_z` the long way, through (5') and (4) twice.

    The chain rule to second order for :math:`L(\hat y(z))`:

    .. math::

        H_z = J^\top \frac{\partial^2 L}{\partial \hat y^2} J
              + \sum_i \frac{\partial L}{\partial \hat y_i} \nabla^2_z \hat y_i   \;(4'')

    with :math:`\partial^2 L / \partial \hat y_i^2 = y_i / (N \hat y_i^2)` (5''),
    :math:`\partial L / \partial \hat y_i = -y_i / (N \hat y_i)` (5') and the softmax's Hessian
    :math:`\partial^2 \hat y_i / \partial z_j \partial z_k = \hat y_i (\delta_{ij} - \hat y_j)
    (\delta_{ik} - \hat y_k) - \hat y_i \hat y_j (\delta_{jk} - \hat y_k)` (4S).  The first term is
    :math:`\frac1N \sum_i y_i (e_i - \hat y)(e_i - \hat y)^\top`, the second its negative plus
    :math:`\frac{s}{N} J`: everything that depends on *which* class is the target cancels, and
    :math:`H_z = \frac{s}{N} J` is left.  These are the C x C partials that the gradient
    contracted into C numbers: they come back as the curvature.

    Where ``yhat`` underflows to 0 under a zero target weight the terms are 0 (as in
    :func:`scratch.dz2_staged`); under a positive one (or where ``yhat**2`` underflows) this
    route cannot represent ``1/yhat**2`` and raises ``FloatingPointError``: use the fused route.

    Parameters
    ----------
    yhat : (N, C) probabilities.
    y : labels (N,) int or targets (N, C).
    is_labels : bool

    Returns
    -------
    StagedCurvature
    """
    N, C = yhat.shape
    Y = one_hot(y, C, yhat.dtype) if is_labels else y
    dl = -Y / N  # (6') dL/dl = -y / N
    sq = yhat * yhat
    if np.any((sq == 0) & (dl != 0)):
        raise FloatingPointError(
            "staged curvature: a positive target weight falls on a class whose probability (squared) "
            "underflowed to 0, so d2L/dyhat2 = y / (N yhat^2) is infinite; use route='fused'"
        )
    nz = dl != 0
    dyhat = np.divide(dl, yhat, out=np.zeros_like(dl), where=nz)  # (5')  dL/dyhat = -y / (N yhat)
    d2yhat = np.divide(-dl, sq, out=np.zeros_like(dl), where=nz)  # (5'') d2L/dyhat2 = y / (N yhat^2), diagonal
    J = softmax_jacobian(yhat)  # (4)  J[n, i, j] = dyhat_i / dz_j                   (N, C, C)
    eye = np.eye(C, dtype=yhat.dtype)
    E = eye[None, :, :] - yhat[:, None, :]  # E[n, i, j] = delta_ij - yhat_j        (N, C, C)
    # (4S) d2yhat_i / dz_j dz_k = yhat_i (E_ij E_ik - yhat_j E_jk)                  (N, C, C, C)
    S = yhat[:, :, None, None] * (E[:, :, :, None] * E[:, :, None, :]
                                  - (yhat[:, :, None] * E)[:, None, :, :])
    outer = np.einsum("nij,ni,nik->njk", J, d2yhat, J)  # J^T diag(d2L/dyhat2) J
    inner = np.einsum("ni,nijk->njk", dyhat, S)  # sum_i dL/dyhat_i d2yhat_i/dz2
    return StagedCurvature(dyhat, d2yhat, J, S, outer, inner, outer + inner)  # (4'') H_z = outer + inner


# --------------------------------------------------------------------------------------------
# The products
# --------------------------------------------------------------------------------------------


class HessianTerms(NamedTuple):
    """:math:`H v` split as :func:`hessian_terms` computes it: ``gauss_newton`` (G v),
    ``cross`` (the bilinear W2-by-layer-1 terms ``R{a1}^T dz2`` and ``dz2 V2^T``), ``tanh2``
    (the ``da1 * tanh'' * R{z1}`` term); each a :class:`Params`.  ``cross + tanh2`` is the
    residual term :math:`\\sum_{nc} dz_{2,nc} \\nabla^2 z_{2,nc}\\, v`."""

    gauss_newton: Params
    cross: Params
    tanh2: Params

    def total(self) -> Params:
        """``gauss_newton + cross + tanh2`` = H v."""
        return Params(*(g + c + t for g, c, t in zip(self.gauss_newton, self.cross, self.tanh2)))


def _prepare(params: Params, x: np.ndarray, y: np.ndarray, v: Any) -> tuple[bool, Params]:
    *_, is_labels = check_inputs(params, x, y)
    return is_labels, check_direction(params, v)


def _r_grads(params: Params, x: np.ndarray, y: np.ndarray, is_labels: bool, v: Params) -> Grads:
    fwd = _forward(params, x)  # (1)-(5)
    tg = tanh_derivative(fwd.z1)  # (2')  tanh'(z1)                         (N, H)
    Rz1, Ra1, Rz2 = r_forward(params, x, v, fwd, tg)  # (1R)-(3R)
    dz2 = dz2_fused(fwd, y, is_labels)  # (4')  the residual (yhat s - y)/N (N, C)
    da1 = dz2 @ params.W2.T  # (3'')                                        (N, H)
    Rdz2 = logit_curvature_product(fwd, y, is_labels, Rz2)  # (4'R) H_z R{z2}  (N, C)
    RdW2 = fwd.a1.T @ Rdz2 + Ra1.T @ dz2  # (3'R) R{dW2} = a1^T R{dz2} + R{a1}^T dz2   (H, C)
    Rdb2 = Rdz2.sum(axis=0)  # (3'R) R{db2} = sum_n R{dz2}                  (C,)
    Rda1 = Rdz2 @ params.W2.T + dz2 @ v.W2.T  # (3''R) R{da1} = R{dz2} W2^T + dz2 V2^T  (N, H)
    Rdz1 = Rda1 * tg + da1 * tanh_second_derivative(fwd.z1) * Rz1  # (2'R)  (N, H)
    RdW1 = x.T @ Rdz1  # (1'R) R{dW1} = x^T R{dz1}                          (D, H)
    Rdb1 = Rdz1.sum(axis=0)  # (1'R) R{db1} = sum_n R{dz1}                  (H,)
    return Grads(Rdz2, RdW2, Rdb2, Rdz1, RdW1, Rdb1)


def r_grads(params: Params, x: np.ndarray, y: np.ndarray, v: Params, *, spec: Any = None) -> Grads:
    """The R-pass of every quantity of :func:`scratch.loss_and_grads`: the directional
    derivative along ``v`` of dz2, dW2, db2, dz1, dW1, db1, eqs. (1R)-(1'R).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64.
    x : (N, D) of the parameters' dtype.
    y : (N,) int labels or (N, C) non-negative float targets of the parameters' dtype.
    v : Params of the parameters' shapes and dtype: the direction.

    spec : NetworkSpec, optional: the seed network only (the default); any other member raises ValueError.
    Returns
    -------
    Grads  ``R{dz2}`` (N, C), ``R{dW2}`` (H, C), ``R{db2}`` (C,), ``R{dz1}`` (N, H),
    ``R{dW1}`` (D, H), ``R{db1}`` (H,), in the parameters' dtype; its ``params_grads()`` is H v.
    """
    as_spec(spec).require_seed("scratch.curvature.r_grads")  # derived for tanh, mean, no L2 only
    is_labels, v = _prepare(params, x, y, v)
    return _r_grads(params, x, y, is_labels, v)


def hvp(params: Params, x: np.ndarray, y: np.ndarray, v: Params, *, spec: Any = None) -> Params:
    r"""The Hessian of the loss (7) with respect to all parameters, applied to ``v``:
    :math:`H v = R\{\nabla_\theta L\}`, by the R-operator (Pearlmutter 1994), eqs. (1R)-(1'R).

    One forward pass, one backward pass and their R-twins: about two gradients' work, and
    never an O(P^2) matrix (P = DH + H + HC + C parameters).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64.
    x : (N, D) of the parameters' dtype.
    y : (N,) int labels in [0, C) or (N, C) non-negative float targets of the parameters' dtype.
    v : Params  (V1 (D, H), c1 (H,), V2 (H, C), c2 (C,)) of the parameters' dtype.

    spec : NetworkSpec, optional: the seed network only (the default); any other member raises ValueError.
    Returns
    -------
    Params  ``(R{dW1} (D, H), R{db1} (H,), R{dW2} (H, C), R{db2} (C,))`` in the parameters' dtype.
    """
    as_spec(spec).require_seed("scratch.curvature.hvp")  # derived for tanh, mean, no L2 only
    return r_grads(params, x, y, v).params_grads()


def _gn_grads(params: Params, x: np.ndarray, y: np.ndarray, is_labels: bool, v: Params, route: str) -> Grads:
    fwd = _forward(params, x)  # (1)-(5)
    if route == "fused":
        tg = tanh_derivative(fwd.z1)  # (2') tanh'(z1), cancellation-free
        Rz2 = r_forward(params, x, v, fwd, tg).Rz2  # (1R)-(3R): J v, a JVP     (N, C)
        HRz2 = logit_curvature_product(fwd, y, is_labels, Rz2)  # (4'R) H_z J v  (N, C)
    else:
        tg = 1.0 - fwd.a1**2  # (2') the textbook tanh' = 1 - a1^2
        Rz2 = r_forward(params, x, v, fwd, tg).Rz2  # (1R)-(3R)
        Hz = logit_curvature_staged(fwd.yhat, y, is_labels).blocks  # (4'') the C x C blocks (N, C, C)
        HRz2 = np.einsum("njk,nk->nj", Hz, Rz2)  # H_z,n R{z2}_n               (N, C)
    return backward(params, x, fwd, HRz2, tanh_grad=tg)  # (3')-(1') on H_z J v: J^T H_z J v, a VJP


def gnvp(params: Params, x: np.ndarray, y: np.ndarray, v: Params, *, route: str = "fused", spec: Any = None) -> Params:
    r"""The Gauss-Newton matrix applied to ``v``: :math:`G v = J^\top H_z J v`, with
    :math:`J = \partial z_2 / \partial \theta` (all N C logits) and :math:`H_z` the
    block-diagonal Hessian of L in logit space, :math:`H_{z,n} = \frac{s_n}{N}(\operatorname{diag}
    \hat y_n - \hat y_n \hat y_n^\top)`.

    ``J v`` is the forward R-pass (1R)-(3R) (a JVP), ``H_z`` acts per sample (4'R), and
    ``J^T`` is the first-order backward pass (3')-(1') run on ``H_z J v`` in place of dz2 (a VJP).
    G is positive semidefinite (targets are non-negative, so s_n >= 0 and each J_n is PSD).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64.
    x : (N, D) of the parameters' dtype.
    y : (N,) int labels or (N, C) non-negative float targets of the parameters' dtype.
    v : Params of the parameters' shapes and dtype.
    route : {"fused", "staged"}
        ``"fused"`` (default): :func:`logit_curvature_product`, never forming a C x C block.
        ``"staged"``: forms the (N, C, C) blocks the long way (:func:`logit_curvature_staged`:
        second derivatives of the log and of the softmax) and uses ``1 - a1**2`` for tanh', for
        teaching; equal to the fused route to rounding on ordinary problems.

    spec : NetworkSpec, optional: the seed network only (the default); any other member raises ValueError.
    Returns
    -------
    Params  ``G v`` as (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)) in the parameters' dtype.
    """
    as_spec(spec).require_seed("scratch.curvature.gnvp")  # derived for tanh, mean, no L2 only
    if route not in GN_ROUTES:
        raise ValueError(f"route must be one of {GN_ROUTES}, got {route!r}")
    is_labels, v = _prepare(params, x, y, v)
    return _gn_grads(params, x, y, is_labels, v, route).params_grads()


def hessian_terms(params: Params, x: np.ndarray, y: np.ndarray, v: Params, *, spec: Any = None) -> HessianTerms:
    r"""``H v`` in its three parts: the Gauss-Newton product (8G), the cross term (8X) and the tanh''
    term (8T) of ``docs/curvature.md`` section 3.

    .. math::

        H v = \underbrace{J^\top H_z J v}_{\text{gauss\_newton}}
            + \underbrace{\sum_{nc} dz_{2,nc} \nabla^2_\theta z_{2,nc}\, v}_{\text{residual}},
        \qquad \text{residual} = \text{cross} + \text{tanh2}

    ``cross``: :math:`R\{a_1\}^\top dz_2` in dW2 and, through tanh', :math:`dz_2 V_2^\top`
    in layer 1: z2 is bilinear in (W2, a1), so its second derivative couples W2 with W1 and
    b1 and is zero within each layer.  ``tanh2``: :math:`da_1 \circ \tanh''(z_1) \circ R\{z_1\}`
    in layer 1 only.  Both vanish with the residual dz2 (a perfect fit, or C = 1).

    Parameters
    ----------
    params, x, y, v : as for :func:`hvp`.

    spec : NetworkSpec, optional: the seed network only (the default); any other member raises ValueError.
    Returns
    -------
    HessianTerms of three Params in the parameters' dtype; ``total()`` is H v.
    """
    as_spec(spec).require_seed("scratch.curvature.hessian_terms")  # derived for tanh, mean, no L2 only
    is_labels, v = _prepare(params, x, y, v)
    fwd = _forward(params, x)
    tg = tanh_derivative(fwd.z1)
    Rz1, Ra1, Rz2 = r_forward(params, x, v, fwd, tg)  # (1R)-(3R)
    gn = backward(params, x, fwd, logit_curvature_product(fwd, y, is_labels, Rz2), tanh_grad=tg).params_grads()  # (8G)
    dz2 = dz2_fused(fwd, y, is_labels)  # (4') the residual
    cross_dz1 = (dz2 @ v.W2.T) * tg  # (3''R), (2'R): dz2 V2^T through tanh'
    cross = Params(x.T @ cross_dz1, cross_dz1.sum(axis=0), Ra1.T @ dz2, np.zeros_like(params.b2))  # (8X): (1'R), (3'R)
    t_dz1 = (dz2 @ params.W2.T) * tanh_second_derivative(fwd.z1) * Rz1  # (8T), (2'R): da1 * tanh'' * R{z1}
    tanh2 = Params(x.T @ t_dz1, t_dz1.sum(axis=0), np.zeros_like(params.W2), np.zeros_like(params.b2))
    return HessianTerms(gn, cross, tanh2)


# --------------------------------------------------------------------------------------------
# Dense matrices (tiny problems) and flattening
# --------------------------------------------------------------------------------------------


def flatten(p: Params) -> np.ndarray:
    """``W1, b1, W2, b2`` raveled (C order) and concatenated: a (P,) vector."""
    return np.concatenate([np.ravel(a) for a in p])


def unflatten(theta: np.ndarray, like: Params) -> Params:
    """The inverse of :func:`flatten`: a (P,) vector as a Params shaped (and typed) like ``like``."""
    out, k = [], 0
    for a in like:
        out.append(np.asarray(theta[k:k + a.size], dtype=a.dtype).reshape(a.shape))
        k += a.size
    if k != theta.size:
        raise ValueError(f"theta must have P = {k} entries, got {theta.size}")
    return Params(*out)


def dense(product: Any, params: Params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The (P, P) matrix of ``product`` (:func:`hvp` or :func:`gnvp`) assembled column by
    column from its action on the P basis vectors (P products: for tiny problems only)."""
    P = sum(a.size for a in params)
    cols = np.empty((P, P), dtype=params.W1.dtype)
    e = np.zeros(P, dtype=params.W1.dtype)
    for i in range(P):
        e[i] = 1
        cols[:, i] = flatten(product(params, x, y, unflatten(e, params)))
        e[i] = 0
    return cols


# --------------------------------------------------------------------------------------------
# Checking a product against an oracle (through the one comparison, scratch.compare)
# --------------------------------------------------------------------------------------------


def check_product(
    ours: Any, reference: Any, params: Params, x: np.ndarray, y: np.ndarray, v: Params, *, rtol: float,
    label: str = "",
) -> list[Check]:
    """Run ``ours(params, x, y, v)`` in the case's dtype and ``reference`` on the float64 rounding
    of the same arrays (the truth for a float32 case), and compare every field with
    :func:`scratch.compare.check_quantity` (shape, dtype, finiteness, then value at ``rtol``).

    ``ours`` and ``reference`` return a :class:`Grads` (from :func:`r_grads`: quantities named
    ``R{dz2}`` ... ``R{db1}``) or a :class:`Params` (from :func:`hvp` / :func:`gnvp`: named
    ``label + W1`` ...).  Returns one :class:`scratch.compare.Check` per field.
    """
    dtype = params.W1.dtype
    got = ours(params, x, y, v)
    if dtype == np.float64:
        ref = reference(params, x, y, v)
    else:
        y64 = y if np.issubdtype(y.dtype, np.integer) else y.astype(np.float64)
        ref = reference(params.astype(np.float64), x.astype(np.float64), y64, v.astype(np.float64))
    N, (D, H, C) = x.shape[0], params.dims
    if isinstance(got, Grads):
        names = [f"R{{{f}}}" for f in Grads._fields]
        shapes = [(N, C), (H, C), (C,), (N, H), (D, H), (H,)]
    else:
        names = [label + f for f in Params._fields]
        shapes = [p.shape for p in params]
    return [check_quantity(n, g, r, rtol=rtol, dtype=dtype, ref_dtype=np.float64, shape=s)
            for n, g, r, s in zip(names, got, ref, shapes)]
