r"""Stochastic gradient descent on the hand-derived gradients, full-batch or mini-batch.

The optimiser is ``torch.optim.SGD`` with ``dampening = 0`` and ``nesterov = False``, written
out so that the PyTorch and JAX twins (:mod:`oracles.torch_train`, :mod:`oracles.jax_train`)
can follow the very same trajectory.  For each parameter array :math:`\theta` (W1, b1, W2, b2)
at step :math:`k = 0, 1, \dots, K-1`, with the gradient :math:`\nabla_k` of the loss (7) of
mini-batch :math:`B_k` at :math:`\theta_k`:

.. math::

    g_k = \nabla_k + \lambda\, \theta_k \;(8) \qquad
    v_k = \begin{cases} g_0 & k = 0 \\ \mu\, v_{k-1} + g_k & k > 0 \end{cases} \;(9) \qquad
    \theta_{k+1} = \theta_k - \eta\, v_k \;(10)

with learning rate :math:`\eta > 0`, momentum :math:`\mu \in [0, 1)` (:math:`\mu = 0`:
:math:`v_k = g_k`, plain SGD) and L2 weight decay :math:`\lambda \ge 0` (8), which is the
gradient of :math:`\tfrac\lambda2 \|\theta\|^2` added to the loss, applied to *every* array,
biases included (as ``torch.optim.SGD(weight_decay=...)`` does).  The recorded loss is (7)
alone, without the decay term.

Mini-batches: the index order is computed once, in NumPy, by :func:`batch_schedule` and
handed to every framework: each epoch is a fresh permutation of ``range(N)`` from
``np.random.default_rng(seed)``, cut into consecutive batches of ``batch_size`` (the last
one of an epoch is smaller when ``batch_size`` does not divide N).  Full batch
(``batch_size=None`` or >= N) uses ``range(N)`` at every step.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Protocol

import numpy as np

from ..checks import check_inputs
from ..network import Params, loss_and_grads, predict
from ..workspace import Workspace


@dataclass(frozen=True)
class SGDConfig:
    """Hyper-parameters of one run (validated on construction; a bad one raises ``ValueError`` naming it).

    Attributes
    ----------
    lr : float > 0
        Learning rate eta of (10).
    steps : int >= 1
        K, the number of parameter updates (one per mini-batch).
    momentum : float in [0, 1)
        mu of (9); 0 is plain SGD.
    weight_decay : float >= 0
        lambda of (8).
    batch_size : int >= 1 or None
        Mini-batch size; None (or >= N) is full-batch gradient descent.
    seed : int
        Seed of the mini-batch shuffling.
    """

    lr: float
    steps: int
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        def number(v: Any) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)

        if not number(self.lr) or self.lr <= 0:
            raise ValueError(f"lr (learning rate) must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.steps, (int, np.integer)) or isinstance(self.steps, bool) or self.steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not number(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, (int, np.integer)) or isinstance(self.batch_size, bool) or self.batch_size < 1
        ):
            raise ValueError(f"batch_size must be an integer >= 1 or None (full batch), got {self.batch_size!r}")


class Step(NamedTuple):
    """What a callback sees after step ``step`` (0-based): the mini-batch loss (7) and the
    accuracy on the whole training set, both at the parameters *before* the update."""

    step: int
    loss: float
    accuracy: float


@dataclass
class TrainResult:
    """One training run.

    Attributes
    ----------
    framework : str
        ``"numpy"``, ``"torch"`` or ``"jax"``.
    params : Params
        The final parameters theta_K as NumPy arrays in the run's dtype.
    loss : (K,) float64 array
        Mini-batch loss (7) at theta_k, k = 0 .. K-1.
    accuracy : (K,) float64 array
        Accuracy on the whole training set at theta_k.
    wall_time : float
        Seconds for the whole run (for JAX including the jit compilation).
    """

    framework: str
    params: Params
    loss: np.ndarray
    accuracy: np.ndarray
    wall_time: float


Callback = Callable[[Step], Any]


def batch_schedule(N: int, batch_size: int | None, steps: int, seed: int) -> list[np.ndarray]:
    """The mini-batch index order of a whole run, computed once and shared by every framework.

    Parameters
    ----------
    N : int >= 1
        Number of training samples.
    batch_size : int >= 1 or None
        None or >= N: full batch, ``arange(N)`` at every step.
    steps : int >= 1
        K, the number of batches.
    seed : int
        Each epoch is ``rng.permutation(N)`` of ``rng = np.random.default_rng(seed)``, cut into
        consecutive chunks of ``batch_size`` (the last chunk of an epoch may be smaller).

    Returns
    -------
    list of K int64 arrays, the sample indices of each step's batch.
    """
    if batch_size is None or batch_size >= N:
        full = np.arange(N, dtype=np.int64)
        return [full] * steps
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < steps:
        perm = rng.permutation(N).astype(np.int64)
        out.extend(perm[i : i + batch_size] for i in range(0, N, batch_size))
    return out[:steps]


def prepare_run(
    params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig, batches: list[np.ndarray] | None = None
) -> tuple[np.dtype, list[np.ndarray]]:
    """Validate one run's inputs (shared by :func:`train` and its twins); return ``(dtype, batches)``.

    ``params`` (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), ``x`` (N, D) and ``y`` (N,) integer
    labels are checked by :func:`scratch.checks.check_inputs`; ``batches`` must hold
    ``config.steps`` index arrays, and defaults to :func:`batch_schedule` of ``config``.
    """
    _, _, _, _, dtype, is_labels = check_inputs(params, x, y)
    if not is_labels:
        raise TypeError("y must be integer labels of shape (N,) for training")
    if batches is None:
        return dtype, batch_schedule(x.shape[0], config.batch_size, config.steps, config.seed)
    if len(batches) != config.steps:
        raise ValueError(f"batches must hold config.steps = {config.steps} index arrays, got {len(batches)}")
    return dtype, batches


def accuracy(params: Params, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples whose largest logit z2 (3) is the label: ``mean(argmax_c z2 == y)``.

    ``x`` (N, D), ``y`` (N,) int labels.
    """
    return float(np.mean(predict(params, x) == y))


def sgd_update(
    params: Params, grads: Params, velocity: Params | None, *, lr: float, momentum: float, weight_decay: float
) -> tuple[Params, Params | None]:
    """One update, eqs. (8)-(10), as ``torch.optim.SGD`` computes it (dampening 0, no Nesterov).

    Parameters
    ----------
    params : Params
        theta_k.
    grads : Params
        The loss gradients (dW1, db1, dW2, db2), same shapes as ``params``.
    velocity : Params or None
        v_{k-1}; None at the first step (or always, when ``momentum == 0``).
    lr, momentum, weight_decay : float
        eta of (10), mu of (9), lambda of (8), as in :class:`SGDConfig`.

    Returns
    -------
    (theta_{k+1}, v_k) : new arrays; v_k is None when ``momentum == 0``.
    """
    g = [d + weight_decay * p if weight_decay else d for p, d in zip(params, grads)]  # (8) g = grad + lambda theta
    if not momentum:
        v = Params(*g)  # (9) with mu = 0: v = g
    elif velocity is None:
        v = Params(*(gi.copy() for gi in g))  # (9) first step: v = g (a copy: g may be a workspace buffer)
    else:
        v = Params(*(momentum * vi + gi for vi, gi in zip(velocity, g)))  # (9) v = mu v + g
    new = Params(*(p - lr * vi for p, vi in zip(params, v)))  # (10) theta <- theta - eta v
    return new, (v if momentum else None)


def _gradient_fn(
    batches: list[np.ndarray], params: Params, use_workspace: bool
) -> Callable[[Params, np.ndarray, np.ndarray], tuple]:
    """The one place where the training loop takes a gradient: ``(params, xb, yb) -> (loss, Grads)``.

    With ``use_workspace``, one :class:`scratch.Workspace` per distinct batch size (same math as
    ``route="fused"``, preallocated buffers; its gradients are overwritten by the next call,
    which :func:`sgd_update` allows for).
    """
    if not use_workspace:
        return loss_and_grads
    D, H, C = params.dims
    spaces = {n: Workspace(n, D, H, C, dtype=params.W1.dtype) for n in {len(b) for b in batches}}

    def grad(p: Params, xb: np.ndarray, yb: np.ndarray) -> tuple:
        return loss_and_grads(p, xb, yb, workspace=spaces[xb.shape[0]])

    return grad


class Engine(Protocol):
    """One framework's training state, built as ``Engine(params, x, y, config, batches)``.

    ``framework`` names it; :meth:`step` runs one update; :meth:`params` hands back theta.
    :func:`run_training` drives any engine, so the loop, the history, the callback, the timing
    and the dtype check exist once for NumPy, PyTorch and JAX alike.
    """

    framework: str

    def step(self, idx: np.ndarray) -> tuple[float, float]:
        """Update on the batch ``idx``; return the mini-batch loss (7) and the training-set
        accuracy, both at the parameters *before* the update."""

    def params(self) -> Params:
        """The current parameters as NumPy arrays in the run's dtype."""


def run_training(
    make_engine: Callable[..., Engine],
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    config: SGDConfig,
    *,
    batches: list[np.ndarray] | None = None,
    callback: Callback | None = None,
) -> TrainResult:
    """Drive an :class:`Engine` through the run: ``config.steps`` updates, one per batch.

    Parameters
    ----------
    make_engine : ``(params, x, y, config, batches) -> Engine``
    params : Params
        theta_0: ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,); never modified.
    x : (N, D) float array of the parameters' dtype.
    y : (N,) int labels in [0, C).
    config : SGDConfig
    batches : list of K int arrays, optional
        The mini-batch indices; default :func:`batch_schedule` of ``config``.  Pass the same list
        to every framework for identical trajectories.
    callback : callable, optional
        Called as ``callback(Step(step, loss, accuracy))`` after every update.

    Returns
    -------
    TrainResult
        Final parameters (checked to be in the input dtype), per-step loss and accuracy (the
        history), wall time.
    """
    dtype, batches = prepare_run(params, x, y, config, batches)
    start = time.perf_counter()
    engine = make_engine(params, x, y, config, batches)
    losses = np.empty(config.steps)
    accs = np.empty(config.steps)
    for k, idx in enumerate(batches):
        losses[k], accs[k] = engine.step(idx)
        if callback is not None:
            callback(Step(k, losses[k], accs[k]))
    final = engine.params()
    if any(a.dtype != dtype for a in final):
        raise TypeError(f"{engine.framework} returned {[str(a.dtype) for a in final]}, expected the input dtype {dtype}")
    return TrainResult(engine.framework, final, losses, accs, time.perf_counter() - start)


class NumpySGD:
    """The hand-derived :class:`Engine`: :func:`scratch.loss_and_grads` then :func:`sgd_update`."""

    framework = "numpy"

    def __init__(self, params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig,
                 batches: list[np.ndarray], *, workspace: bool = True):
        self.theta, self.velocity = params.copy(), None
        self.x, self.y, self.config = x, y, config
        self.grad = _gradient_fn(batches, params, workspace)

    def step(self, idx: np.ndarray) -> tuple[float, float]:
        c = self.config
        L, g = self.grad(self.theta, self.x[idx], self.y[idx])  # (1)-(7) and (7')-(1') on the batch
        acc = accuracy(self.theta, self.x, self.y)
        self.theta, self.velocity = sgd_update(self.theta, g.params_grads(), self.velocity, lr=c.lr,
                                               momentum=c.momentum, weight_decay=c.weight_decay)  # (8)-(10)
        return float(L), acc

    def params(self) -> Params:
        return self.theta


def train(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    config: SGDConfig,
    *,
    batches: list[np.ndarray] | None = None,
    callback: Callback | None = None,
    workspace: bool = True,
) -> TrainResult:
    """Train the network with SGD (8)-(10) on the hand-derived gradients of :func:`scratch.loss_and_grads`.

    Parameters
    ----------
    params, x, y, config, batches, callback
        As for :func:`run_training`: theta_0 (``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,),
        never modified), ``x`` (N, D), ``y`` (N,) int labels, the hyper-parameters, the
        mini-batch indices (default :func:`batch_schedule`), ``callback(Step)`` after every update.
    workspace : bool
        Take the gradients through :class:`scratch.Workspace` (allocation-free, one per distinct
        batch size); False: plain :func:`scratch.loss_and_grads`.  Same trajectory either way.

    Returns
    -------
    TrainResult
        Final parameters, per-step loss and accuracy (the history), wall time.
    """
    engine = functools.partial(NumpySGD, workspace=workspace)
    return run_training(engine, params, x, y, config, batches=batches, callback=callback)
