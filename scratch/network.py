r"""The network and its gradients, derived by hand, equation by equation.

Shapes: x (N, D), W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), y labels (N,) int or targets (N, C).

Forward
-------
.. math::

    z_1 = x W_1 + b_1 \;(1) \qquad a_1 = \tanh z_1 \;(2) \qquad z_2 = a_1 W_2 + b_2 \;(3)
    \qquad \hat y = \operatorname{softmax}(z_2) \;(4) \qquad l = \log \hat y \;(5)
    \qquad PL_n = l_n \cdot y_n \;(6) \qquad L = -\tfrac1N \textstyle\sum_n PL_n \;(7)

Backward (the question this project answers)
--------------------------------------------
``dL/dz2`` has shape (N, C), one entry per logit, although the softmax has C x C partials per
sample: the chain rule contracts the Jacobian with the upstream gradient (a vector-Jacobian
product).  Following (7) -> (6) -> (5) -> (4):

.. math::

    \frac{\partial L}{\partial PL_n} = -\frac1N \;(7') \qquad
    \frac{\partial L}{\partial l_{nc}} = -\frac{y_{nc}}{N} \;(6') \qquad
    \frac{\partial L}{\partial \hat y_{nc}} = -\frac{y_{nc}}{N \hat y_{nc}} \;(5')

    \frac{\partial L}{\partial z_{nj}} = \sum_i \frac{\partial L}{\partial \hat y_{ni}}
        \hat y_{ni}(\delta_{ij} - \hat y_{nj})
      = \frac{1}{N}\Big(\hat y_{nj} \sum_c y_{nc} - y_{nj}\Big) \;(4')

which is the textbook :math:`(\hat y - y)/N` **only when every row of y sums to 1**
(labels, one-hot, soft labels).  Then:

.. math::

    dW_2 = a_1^\top dz_2,\; db_2 = \textstyle\sum_n dz_2 \;(3') \qquad
    da_1 = dz_2 W_2^\top \;(3'') \qquad dz_1 = da_1 \circ (1 - a_1^2) \;(2')

    dW_1 = x^\top dz_1,\; db_1 = \textstyle\sum_n dz_1 \;(1')

The family
----------
:class:`scratch.spec.NetworkSpec` (``spec=``, default the seed network above) changes three things,
and nothing else:

- the activation f of (2) (tanh, relu, leaky_relu, sigmoid): (2) ``a1 = f(z1)`` and
  (2') ``dz1 = da1 * f'(z1)`` (:mod:`scratch.activations`); dz2 is the same for every f;
- the reduction of (7): for ``"sum"``, :math:`L = -\sum_n PL_n`, so (7') is ``-1`` instead of
  ``-1/N`` and dz2 = :math:`\hat y s - y` (every gradient N times the mean's);
- an L2 penalty (8) :math:`L \mathrel{+}= R`, :math:`R = \tfrac{\lambda}{2}\sum\lVert W\rVert^2`
  or :math:`\lambda\sum\lVert W\rVert^2`, whose gradient (8') ``k W`` (k = λ or 2λ) is added to
  dW1, dW2 (and db1, db2 when the biases are regularized); dz1 and dz2 never see it.

Two routes to dz2 are public: ``route="staged"`` follows (7') -> (4') literally through the
full C x C Jacobian (:func:`dz2_staged`), ``route="fused"`` (the default) uses the closed
form (4') computed without cancellation (:func:`dz2_fused`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import activations
from .checks import check_inputs
from .softmax import SoftmaxParts, softmax_jacobian, softmax_parts
from .spec import SEED, NetworkSpec, as_spec

ROUTES = ("fused", "staged")


class Params(NamedTuple):
    """Network parameters: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), one dtype."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    def astype(self, dtype: Any) -> "Params":
        """A copy with every array cast to ``dtype``."""
        return Params(*(np.array(p, dtype=dtype) for p in self))

    def copy(self) -> "Params":
        """A deep copy (new arrays)."""
        return Params(*(p.copy() for p in self))

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(D, H, C)``."""
        return self.W1.shape[0], self.W1.shape[1], self.W2.shape[1]


class Grads(NamedTuple):
    """Gradients of the loss: ``dz2`` (N, C), ``dW2`` (H, C), ``db2`` (C,), ``dz1`` (N, H),
    ``dW1`` (D, H), ``db1`` (H,); all in the parameters' dtype."""

    dz2: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray
    dz1: np.ndarray
    dW1: np.ndarray
    db1: np.ndarray

    def params_grads(self) -> Params:
        """The parameter gradients as a :class:`Params` (same field order as the parameters)."""
        return Params(self.dW1, self.db1, self.dW2, self.db2)


class Forward(NamedTuple):
    """Forward intermediates: ``z1``, ``a1`` (N, H); ``z2``, ``yhat``, ``log_yhat`` (N, C)."""

    z1: np.ndarray
    a1: np.ndarray
    z2: np.ndarray
    yhat: np.ndarray
    log_yhat: np.ndarray
    softmax: SoftmaxParts


class Staged(NamedTuple):
    """Every stage of the staged route to dz2 (see :func:`dz2_staged`)."""

    dPL: np.ndarray  # (N,)      eq. (7'): dL/dPL_n = -1/N
    dl: np.ndarray  # (N, C)     eq. (6'): dL/dl = y * dPL
    dyhat: np.ndarray  # (N, C)  eq. (5'): dL/dyhat = dl / yhat
    jacobian: np.ndarray  # (N, C, C) eq. (4): J_n = diag(yhat_n) - yhat_n yhat_n^T
    dz2: np.ndarray  # (N, C)    eq. (4'): dz2_n = J_n^T dyhat_n


def init_params(D: int, H: int, C: int, *, rng: Any, dtype: Any = np.float64, bias_scale: float = 0.0) -> Params:
    """Random parameters: ``W1 ~ N(0, 1/D)`` (D, H), ``W2 ~ N(0, 1/H)`` (H, C) (LeCun scaling,
    which keeps tanh out of saturation), biases ``N(0, bias_scale^2)``, zero by default.

    Parameters
    ----------
    D, H, C : int >= 1
        Input, hidden and class dimensions.
    rng : numpy.random.Generator or int
        The randomness (an int is a seed for ``np.random.default_rng``).
    dtype : float32 or float64
        Draws are made in float64, then rounded to ``dtype``, so both dtypes see the same numbers.
    bias_scale : float
        Standard deviation of the biases.  Tests use non-zero biases so a bias bug cannot hide.
    """
    for name, v in (("D", D), ("H", H), ("C", C)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    W1 = rng.standard_normal((D, H)) / np.sqrt(D)
    b1 = bias_scale * rng.standard_normal(H)
    W2 = rng.standard_normal((H, C)) / np.sqrt(H)
    b2 = bias_scale * rng.standard_normal(C)
    return Params(W1, b1, W2, b2).astype(dt)


def _logits(params: Params, x: np.ndarray, spec: NetworkSpec = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    W1, b1, W2, b2 = params
    z1 = x @ W1 + b1  # (1) z1 = x W1 + b1                      (N, H)
    if spec.activation == "tanh":
        a1 = np.tanh(z1)  # (2) a1 = tanh(z1)                    (N, H)
    else:
        a1 = activations.activate(spec.activation, z1, spec.alpha)  # (2) a1 = f(z1)   (N, H)
    z2 = a1 @ W2 + b2  # (3) z2 = a1 W2 + b2                     (N, C)
    return z1, a1, z2


def _forward(params: Params, x: np.ndarray, spec: NetworkSpec = SEED) -> Forward:
    z1, a1, z2 = _logits(params, x, spec)  # (1)-(3)
    sm = softmax_parts(z2)
    denom = 1.0 + sm.others  # sum_k exp(z2_k - max z2)          (N,)
    yhat = np.exp(sm.shifted) / denom[:, None]  # (4) yhat = softmax(z2)   (N, C)
    log_yhat = sm.shifted - np.log1p(sm.others)[:, None]  # (5) l = log yhat, via log-sum-exp
    return Forward(z1, a1, z2, yhat, log_yhat, sm)


def forward(params: Params, x: np.ndarray, *, spec: NetworkSpec = SEED) -> Forward:
    """Forward pass, eqs. (1)-(5).

    Parameters
    ----------
    params : Params
    x : (N, D) float array of the parameters' dtype.
    spec : NetworkSpec, optional
        The member of the family (the hidden activation of eq. (2)); default the seed network.

    Returns
    -------
    Forward
        ``z1``, ``a1`` (N, H); ``z2``, ``yhat``, ``log_yhat`` (N, C).
    """
    spec = as_spec(spec)
    check_inputs(params, x)
    return _forward(params, x, spec)


def predict(params: Params, x: np.ndarray, *, spec: NetworkSpec = SEED) -> np.ndarray:
    """Predicted classes ``argmax_c z2`` (N,) int, from eqs. (1)-(3) only: the softmax (4) is
    monotone, so the largest logit is the most probable class.

    Parameters
    ----------
    params : Params
    x : (N, D) float array of the parameters' dtype.
    spec : NetworkSpec, optional (the hidden activation; default the seed network)
    """
    spec = as_spec(spec)
    check_inputs(params, x)
    return np.argmax(_logits(params, x, spec)[2], axis=1)


def _loss(log_yhat: np.ndarray, y: np.ndarray, is_labels: bool, spec: NetworkSpec = SEED, params: Any = None) -> np.ndarray:
    N = log_yhat.shape[0]
    if is_labels:
        PL = log_yhat[np.arange(N), y]  # (6) PL_n = l_n . onehot(y_n)       (N,)
    else:
        PL = np.sum(log_yhat * y, axis=1)  # (6) PL_n = l_n . y_n         (N,)
    if spec.reduction == "mean":
        L = -np.sum(PL) / N  # (7) L = -(1/N) sum_n PL_n
    else:
        L = -np.sum(PL)  # (7) L = -sum_n PL_n           (reduction "sum")
    if spec.l2:
        L = L + spec.penalty(params)  # (8) L + R(W), R = (lambda/2) sum ||W||^2 or lambda sum ||W||^2
    return L


def loss(params: Params, x: np.ndarray, y: np.ndarray, *, spec: NetworkSpec = SEED) -> np.generic:
    """The loss alone, eqs. (1)-(7) (and (8), the L2 penalty, when ``spec`` has one); a scalar
    of the parameters' dtype.

    Accepts complex128 parameters and x (complex-step differentiation): every function used
    is analytic (the kinks of relu and leaky_relu are chosen on the real part), and the softmax
    max-shift uses the real part of the logits.
    """
    spec = as_spec(spec)
    _, _, _, _, _, is_labels = check_inputs(params, x, y, allow_complex=True)
    return _loss(_forward(params, x, spec).log_yhat, y, is_labels, spec, params)


def one_hot(labels: np.ndarray, C: int, dtype: Any) -> np.ndarray:
    """Labels (N,) -> one-hot targets (N, C) of ``dtype``."""
    Y = np.zeros((labels.shape[0], C), dtype=dtype)
    Y[np.arange(labels.shape[0]), labels] = 1
    return Y


def dz2_fused(fwd: Forward, y: np.ndarray, is_labels: bool, *, spec: NetworkSpec = SEED) -> np.ndarray:
    r"""Eq. (4') in closed form: :math:`dz_2 = (\hat y \, s - y)/N`, :math:`s_n = \sum_c y_{nc}`.

    Why not simply ``(yhat - y)/N``: that is the special case s = 1.  With targets whose rows
    do not sum to 1 (weights, unnormalised scores) the softmax term keeps its factor s.

    Cancellation: for the most probable class m of a confident row, ``yhat_m * s - y_m`` is
    a difference of two numbers near s (in float32, 1 - yhat_m is below the resolution near 1
    and the true-class gradient rounds to 0).  With T the mass of the other classes
    (yhat_m = 1/(1+T)), the same quantity is

    .. math:: \hat y_m s - y_m = \frac{\sum_{k \ne m} y_k - y_m T}{1 + T}

    which has no cancellation for labels and one-hot targets.  Every other entry has
    yhat_k <= 1/2 and is computed as written.

    Parameters
    ----------
    fwd : Forward (needs ``yhat`` (N, C) and ``softmax`` parts).
    y : labels (N,) int or targets (N, C).
    is_labels : bool
    spec : NetworkSpec, optional
        Only its reduction matters here: (7') divides by N for ``"mean"``, not for ``"sum"``.
        dz2 is the same for every activation and every L2 setting.

    Returns
    -------
    (N, C) array dL/dz2.
    """
    N, C = fwd.yhat.shape
    rows = np.arange(N)
    m = fwd.softmax.argmax
    T = fwd.softmax.others
    if is_labels:
        dz2 = fwd.yhat.copy()  # s_n = 1 for labels
        dz2[rows, y] -= 1.0  # yhat - onehot(y)
        y_m = (y == m).astype(dz2.dtype)  # weight on the argmax class
        rest = 1.0 - y_m  # sum_{k != m} y_k
    else:
        s = y.sum(axis=1)  # s_n = sum_c y_nc                          (N,)
        dz2 = fwd.yhat * s[:, None] - y  # (4') yhat * s - y           (N, C)
        y_m = y[rows, m]
        rest = s - y_m if C == 1 else np.sum(y, axis=1, where=np.arange(C)[None, :] != m[:, None])
    dz2[rows, m] = (rest - y_m * T) / (1.0 + T)  # argmax column, cancellation-free
    if as_spec(spec).reduction == "mean":
        dz2 /= N  # (7'): the mean over N samples (reduction "sum": no factor)
    return dz2


def dz2_staged(yhat: np.ndarray, y: np.ndarray, is_labels: bool, *, spec: NetworkSpec = SEED) -> Staged:
    r"""Eq. (4') the way a learner derives it, stage by stage through the C x C Jacobian.

    ``dPL = -1/N`` (7'), ``dl = y * dPL`` (6'), ``dyhat = dl / yhat`` (5'),
    ``J_n = diag(yhat_n) - yhat_n yhat_n^T`` (4), ``dz2_n = J_n^T dyhat_n`` (4').

    Where ``yhat`` underflows to exactly 0 and the target weight there is 0, the term
    ``dl / yhat`` is 0/0; its contribution to dz2 is ``dyhat_c * yhat_c * (...) = dl_c * (...)
    = 0``, so it is taken as 0.  Where a *positive* target weight meets ``yhat == 0`` the
    staged route cannot represent ``1/yhat`` and raises; the fused route has no such
    limitation (this is why frameworks fuse softmax with the loss).

    Parameters
    ----------
    yhat : (N, C) probabilities.
    y : labels (N,) int or targets (N, C).
    is_labels : bool
    spec : NetworkSpec, optional (its reduction: dPL = -1/N for "mean", -1 for "sum")

    Returns
    -------
    Staged
        ``dPL`` (N,), ``dl``, ``dyhat`` (N, C), ``jacobian`` (N, C, C), ``dz2`` (N, C).
    """
    N, C = yhat.shape
    Y = one_hot(y, C, yhat.dtype) if is_labels else y
    dPL = np.full(N, -as_spec(spec).scale(N), dtype=yhat.dtype)  # (7') dL/dPL_n = -1/N  (sum: -1)
    dl = Y * dPL[:, None]  # (6') dL/dl_nc = y_nc dL/dPL_n
    if np.any((yhat == 0) & (dl != 0)):
        raise FloatingPointError(
            "staged route: a positive target weight falls on a class whose probability underflowed "
            "to 0, so dL/dyhat = dl/yhat is infinite; use route='fused'"
        )
    dyhat = np.divide(dl, yhat, out=np.zeros_like(dl), where=dl != 0)  # (5') dL/dyhat = dl / yhat
    J = softmax_jacobian(yhat)  # (4) J_n = diag(yhat_n) - yhat_n yhat_n^T   (N, C, C)
    dz2 = np.einsum("nij,ni->nj", J, dyhat)  # (4') dz2_n = J_n^T dyhat_n    (N, C)
    return Staged(dPL, dl, dyhat, J, dz2)


def tanh_derivative(z1: np.ndarray) -> np.ndarray:
    r"""Eq. (2'): :math:`\tanh'(z) = \operatorname{sech}^2 z = 1 - \tanh^2 z`, from z, without cancellation.

    ``1 - a1**2`` loses every digit once |a1| rounds to 1 (|z| > 9 in float32, > 19 in
    float64).  With :math:`u = e^{-2|z|} \in (0, 1]`,
    :math:`\operatorname{sech}^2 z = 4u / (1 + u)^2`: no subtraction, no overflow.
    """
    u = np.exp(-2.0 * np.abs(z1))
    return 4.0 * u / (1.0 + u) ** 2


def backward(params: Params, x: np.ndarray, fwd: Forward, dz2: np.ndarray, *, tanh_grad: np.ndarray,
             spec: NetworkSpec = SEED) -> Grads:
    """Eqs. (3'), (3''), (2'), (1'), (8'): from dz2 (N, C) to every gradient.

    ``tanh_grad`` is the activation's derivative f'(z1), (N, H) (tanh' for the seed network; the
    name is kept from it).  ``spec`` adds the L2 penalty's gradient (8') to dW1, dW2 (and db1,
    db2 when the biases are regularized); dz1 and dz2 never see it.
    """
    dW2 = fwd.a1.T @ dz2  # (3')  dW2 = a1^T dz2                   (H, C)
    db2 = dz2.sum(axis=0)  # (3')  db2 = sum_n dz2                 (C,)
    da1 = dz2 @ params.W2.T  # (3'') da1 = dz2 W2^T                (N, H)
    dz1 = da1 * tanh_grad  # (2')  dz1 = da1 * f'(z1)              (N, H)
    dW1 = x.T @ dz1  # (1')  dW1 = x^T dz1                         (D, H)
    db1 = dz1.sum(axis=0)  # (1')  db1 = sum_n dz1                 (H,)
    reg = spec.penalty_grads(params)
    if reg is not None:  # (8') dR/dW = k W, k = lambda ("half") or 2 lambda ("full")
        dW1, db1, dW2, db2 = dW1 + reg[0], db1 + reg[1], dW2 + reg[2], db2 + reg[3]
    return Grads(dz2, dW2, db2, dz1, dW1, db1)


def loss_and_grads(
    params: Params, x: np.ndarray, y: np.ndarray, *, route: str = "fused", workspace: Any = None,
    spec: NetworkSpec = SEED,
) -> tuple[np.generic, Grads]:
    """Loss (7) and every gradient, by hand.

    Parameters
    ----------
    params : Params
        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), float32 or float64.
    x : (N, D) array of the parameters' dtype.
    y : (N,) int labels in [0, C), or (N, C) non-negative float targets of the parameters' dtype.
    route : {"fused", "staged"}
        ``"fused"`` (default): closed-form dz2 and tanh' from z1, both cancellation-free.
        ``"staged"``: the teaching route, eqs. (7')->(6')->(5')->(4') through the full softmax
        Jacobian and tanh' = 1 - a1^2.  Both agree to ~1e-15 relative in float64.
    workspace : scratch.Workspace, optional
        Preallocated buffers for the allocation-free fast path (same math as ``"fused"``; the
        seed network only).
    spec : NetworkSpec, optional
        The member of the family: hidden activation, reduction, L2 (default: the seed network,
        tanh, mean, no L2).  See :mod:`scratch.spec`.

    Returns
    -------
    loss : scalar of the parameters' dtype
    grads : Grads
        ``dz2`` (N, C), ``dW2`` (H, C), ``db2`` (C,), ``dz1`` (N, H), ``dW1`` (D, H), ``db1`` (H,).
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    spec = as_spec(spec)
    _, _, _, _, _, is_labels = check_inputs(params, x, y)
    if workspace is not None:
        if route != "fused":
            raise ValueError(f"workspace implements route='fused' only, got route={route!r}")
        spec.require_seed("the workspace (loss_and_grads(..., workspace=ws))")
        return workspace.loss_and_grads(params, x, y, is_labels=is_labels)
    fwd = _forward(params, x, spec)
    L = _loss(fwd.log_yhat, y, is_labels, spec, params)
    if route == "fused":
        dz2 = dz2_fused(fwd, y, is_labels, spec=spec)
        if spec.activation == "tanh":
            tanh_grad = tanh_derivative(fwd.z1)  # (2') sech^2 z1, from z1
        else:
            tanh_grad = activations.derivative(spec.activation, fwd.z1, spec.alpha)  # (2') f'(z1), from z1
    else:
        dz2 = dz2_staged(fwd.yhat, y, is_labels, spec=spec).dz2
        # (2') the textbook form from a1: 1 - a1^2 (tanh), a1 (1 - a1) (sigmoid), [a1 > 0] (relu)
        tanh_grad = activations.derivative_from_activation(spec.activation, fwd.a1, spec.alpha)
    return L, backward(params, x, fwd, dz2, tanh_grad=tanh_grad, spec=spec)
