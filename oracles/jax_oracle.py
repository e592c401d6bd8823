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
from scratch.spec import SEED, NetworkSpec, as_spec

jax = require("jax", "jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


def activation(spec: NetworkSpec, z):
    """Eq. (2) with JAX's own functions: ``jnp.tanh``, ``jax.nn.relu``, ``jax.nn.sigmoid``; leaky
    ReLU as ``jnp.where(z > 0, z, alpha z)``, because ``jax.nn.leaky_relu`` writes ``z >= 0`` and
    so takes slope 1 at exactly z = 0, where torch (and scratch) take alpha."""
    if spec.activation == "tanh":
        return jnp.tanh(z)
    if spec.activation == "relu":
        return jax.nn.relu(z)
    if spec.activation == "leaky_relu":
        return jnp.where(z > 0, z, spec.alpha * z)
    return jax.nn.sigmoid(z)


def _loss(params, e1, e2, x, y, is_labels, spec=SEED):
    W1, b1, W2, b2 = params
    z1 = x @ W1 + b1 + e1  # (1), tapped
    a1 = activation(spec, z1)  # (2)
    z2 = a1 @ W2 + b2 + e2  # (3), tapped
    l = jax.nn.log_softmax(z2, axis=1)  # (4)-(5)
    if is_labels:
        PL = jnp.take_along_axis(l, y[:, None], axis=1)[:, 0]  # (6)
    else:
        PL = jnp.sum(l * y, axis=1)  # (6)
    L = -jnp.mean(PL) if spec.reduction == "mean" else -jnp.sum(PL)  # (7)
    if spec.l2:  # (8), differentiated by JAX
        sq = sum(jnp.sum(p * p) for p in ((W1, b1, W2, b2) if spec.l2_biases else (W1, W2)))
        L = L + (0.5 * spec.l2 if spec.l2_form == "half" else spec.l2) * sq
    return L


_value_and_grad = jax.value_and_grad(_loss, argnums=(0, 1, 2))


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray, *, spec: NetworkSpec = SEED) -> tuple[np.generic, Grads]:
    """Loss and gradients by ``jax.value_and_grad``; same contract as :func:`scratch.loss_and_grads`.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,))
    x : (N, D)
    y : (N,) int labels or (N, C) float targets
    spec : scratch.NetworkSpec (the member of the family; default the seed network)

    Returns
    -------
    loss : scalar of the input dtype; grads : Grads of NumPy arrays in the input dtype.
    """
    spec = as_spec(spec)
    N, _, H, C, dtype, is_labels = check_inputs(params, x, y)
    jp = tuple(jnp.asarray(p) for p in params)
    e1 = jnp.zeros((N, H), dtype)
    e2 = jnp.zeros((N, C), dtype)
    L, (g, dz1, dz2) = _value_and_grad(jp, e1, e2, jnp.asarray(x), jnp.asarray(y), is_labels, spec)
    dW1, db1, dW2, db2 = g
    return as_result("jax", dtype, L, dz2, dW2, db2, dz1, dW1, db1, hint=" (is jax_enable_x64 on?)")
