"""JAX twin of :func:`scratch.train.train`: the same run with ``jax.value_and_grad`` and optax.

Starts from the very same initial arrays and visits the very same mini-batches (the index list
computed once in NumPy by :func:`scratch.train.batch_schedule`).  The optimiser is
``optax.chain(optax.add_decayed_weights(lambda), optax.sgd(eta, momentum=mu))``: the decay
is added to the gradient *before* the momentum trace, g = grad + lambda theta (8), as in
``torch.optim.SGD``; ``optax.trace`` starts from v = 0, so its first v = 0 * mu + g = g (9);
``apply_updates`` adds -eta v (10).  x64 is enabled on import; nothing is derived by hand.
"""

from __future__ import annotations

import time

import numpy as np

from oracles import require
from scratch.checks import check_inputs
from scratch.network import Params
from scratch.train import Callback, SGDConfig, Step, TrainResult, batches_for

jax = require("jax", "jax")
optax = require("optax", "jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


def _logits(params: tuple, x: "jax.Array") -> "jax.Array":
    W1, b1, W2, b2 = params
    return jnp.tanh(x @ W1 + b1) @ W2 + b2  # (1)-(3) z2 = tanh(x W1 + b1) W2 + b2


def _loss(params: tuple, x: "jax.Array", y: "jax.Array") -> "jax.Array":
    l = jax.nn.log_softmax(_logits(params, x), axis=1)  # (4)-(5)
    return -jnp.mean(jnp.take_along_axis(l, y[:, None], axis=1)[:, 0])  # (6)-(7)


@jax.jit
def _accuracy(params: tuple, x: "jax.Array", y: "jax.Array") -> "jax.Array":
    return jnp.mean(jnp.argmax(_logits(params, x), axis=1) == y)


def optimizer(config: SGDConfig) -> "optax.GradientTransformation":
    """``add_decayed_weights(lambda)`` then ``sgd(eta, momentum=mu)``: eqs. (8)-(10) of :mod:`scratch.train`."""
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(config.lr, momentum=config.momentum or None, nesterov=False),
    )


def train(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    config: SGDConfig,
    *,
    batches: list[np.ndarray] | None = None,
    callback: Callback | None = None,
) -> TrainResult:
    """Same contract as :func:`scratch.train.train`, computed by JAX and optax (one jitted step).

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64; never modified.
    x : (N, D), y : (N,) int labels.
    config : SGDConfig
    batches : list of K int index arrays (default: :func:`scratch.train.batch_schedule`).
    callback : called as ``callback(Step(step, loss, accuracy))`` after every update.

    Returns
    -------
    TrainResult with ``framework="jax"``; final parameters as NumPy arrays of the input dtype.
    The wall time includes jit compilation (once per distinct batch size).
    """
    _, _, _, _, dtype, is_labels = check_inputs(params, x, y)
    if not is_labels:
        raise TypeError("y must be integer labels of shape (N,) for training")
    batches = batches_for(config, x.shape[0], batches)
    start = time.perf_counter()
    opt = optimizer(config)

    @jax.jit
    def step(theta, state, xb, yb):
        L, g = jax.value_and_grad(_loss)(theta, xb, yb)
        updates, state = opt.update(g, state, theta)  # (8), (9), and -eta v
        return optax.apply_updates(theta, updates), state, L  # (10)

    theta = tuple(jnp.asarray(np.array(p, copy=True)) for p in params)
    state = opt.init(theta)
    xj, yj = jnp.asarray(x), jnp.asarray(y.astype(np.int64))
    losses = np.empty(config.steps)
    accs = np.empty(config.steps)
    for k, idx in enumerate(batches):
        accs[k] = float(_accuracy(theta, xj, yj))
        theta, state, L = step(theta, state, xj[idx], yj[idx])
        losses[k] = float(L)
        if callback is not None:
            callback(Step(k, losses[k], accs[k]))
    final = Params(*(np.array(t) for t in theta))
    for a in final:
        assert a.dtype == dtype, f"jax training returned {a.dtype}, expected the input dtype {dtype} (is x64 on?)"
    return TrainResult("jax", final, losses, accs, time.perf_counter() - start)
