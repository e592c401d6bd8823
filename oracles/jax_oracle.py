"""JAX oracle: the same network from the same arrays, gradients from ``jax.value_and_grad``.

x64 is enabled on import (without it JAX silently computes in float32).  ``dz2`` and ``dz1``
come from autograd too: the loss takes two zero "taps" ``e1`` (N, H) and ``e2`` (N, C) added
to z1 and z2, and dL/de at e = 0 is dL/dz exactly.  No derivative is written by hand.
"""

from __future__ import annotations

import numpy as np

from oracles import as_result, require
from scratch.checks import check_inputs
from scratch.network import Grads, Params

jax = require("jax", "jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


def _loss(params, e1, e2, x, y, is_labels):
    W1, b1, W2, b2 = params
    z1 = x @ W1 + b1 + e1  # (1), tapped
    a1 = jnp.tanh(z1)  # (2)
    z2 = a1 @ W2 + b2 + e2  # (3), tapped
    l = jax.nn.log_softmax(z2, axis=1)  # (4)-(5)
    if is_labels:
        PL = jnp.take_along_axis(l, y[:, None], axis=1)[:, 0]  # (6)
    else:
        PL = jnp.sum(l * y, axis=1)  # (6)
    return -jnp.mean(PL)  # (7)


_value_and_grad = jax.value_and_grad(_loss, argnums=(0, 1, 2))


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[np.generic, Grads]:
    """Loss and gradients by ``jax.value_and_grad``; same contract as :func:`scratch.loss_and_grads`.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    y : (N,) int labels or (N, C) float targets

    Returns
    -------
    loss : scalar of the input dtype; grads : Grads of NumPy arrays in the input dtype.
    """
    N, _, H, C, dtype, is_labels = check_inputs(params, x, y)
    jp = tuple(jnp.asarray(p) for p in params)
    e1 = jnp.zeros((N, H), dtype)
    e2 = jnp.zeros((N, C), dtype)
    L, (g, dz1, dz2) = _value_and_grad(jp, e1, e2, jnp.asarray(x), jnp.asarray(y), is_labels)
    dW1, db1, dW2, db2 = g
    return as_result("jax", dtype, L, dz2, dW2, db2, dz1, dW1, db1, hint=" (is jax_enable_x64 on?)")
