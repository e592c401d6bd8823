"""JAX twin of :func:`scratch.lab.train.train`: the same run with ``jax.value_and_grad`` and optax.

Starts from the very same initial arrays and visits the very same mini-batches (the index list
computed once in NumPy by :func:`scratch.lab.train.batch_schedule`).  The optimiser is
``optax.chain(optax.add_decayed_weights(lambda), optax.sgd(eta, momentum=mu))``: the decay
is added to the gradient *before* the momentum trace, g = grad + lambda theta (8), as in
``torch.optim.SGD``; ``optax.trace`` starts from v = 0, so its first v = 0 * mu + g = g (9);
``apply_updates`` adds -eta v (10).  x64 is enabled on import; nothing is derived by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oracles import require
from scratch.network import Params
from scratch.lab.train import SGDConfig, TrainResult, run_training

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
    """``add_decayed_weights(lambda)`` then ``sgd(eta, momentum=mu)``: eqs. (8)-(10) of :mod:`scratch.lab.train`."""
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(config.lr, momentum=config.momentum or None, nesterov=False),
    )


class JaxSGD:
    """The JAX :class:`scratch.lab.train.Engine`: one jitted ``value_and_grad`` + optax update per step
    (compiled once per distinct batch size, inside the timed run)."""

    framework = "jax"

    def __init__(self, params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig, batches: list[np.ndarray]):
        opt = optimizer(config)

        @jax.jit
        def update(theta, state, xb, yb):
            L, g = jax.value_and_grad(_loss)(theta, xb, yb)
            updates, state = opt.update(g, state, theta)  # (8), (9), and -eta v
            return optax.apply_updates(theta, updates), state, L  # (10)

        self._update = update
        self.theta = tuple(jnp.asarray(np.array(p, copy=True)) for p in params)
        self.state = opt.init(self.theta)
        self.x, self.y = jnp.asarray(x), jnp.asarray(y.astype(np.int64))

    def step(self, idx: np.ndarray) -> tuple[float, float]:
        acc = float(_accuracy(self.theta, self.x, self.y))
        self.theta, self.state, L = self._update(self.theta, self.state, self.x[idx], self.y[idx])
        return float(L), acc

    def params(self) -> Params:
        return Params(*(np.array(t) for t in self.theta))


def train(params: Params, x: np.ndarray, y: np.ndarray, config: SGDConfig, **options: Any) -> TrainResult:
    """:func:`scratch.lab.train.train` computed by JAX and optax: same arguments (``options``: ``batches``,
    ``callback``), same :class:`~scratch.lab.train.TrainResult` (``framework="jax"``).

    ``params`` W1 (D, H), b1 (H,), W2 (H, C), b2 (C,) in float32 or float64; ``x`` (N, D); ``y`` (N,).
    The wall time includes jit compilation (once per distinct batch size).
    """
    return run_training(JaxSGD, params, x, y, config, **options)
