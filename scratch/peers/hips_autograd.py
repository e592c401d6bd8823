"""HIPS ``autograd`` as a peer: the same network in ``autograd.numpy``, every gradient traced.

The loss is eqs. (1)-(7) with a max-shifted log-softmax ``l = (z2 - m) - log sum exp(z2 - m)``,
``m = max_c z2`` (autograd differentiates through ``m`` too; its contribution is zero up to
rounding).  ``dz1`` and ``dz2`` come from autograd as well: zero "taps" ``e1`` (N, H) and ``e2``
(N, C) are added to z1 and z2, and dL/de at e = 0 is dL/dz exactly (as :mod:`oracles.jax_oracle`
does).  No derivative is written by hand.  Every output keeps the input dtype: autograd runs
NumPy's float32 kernels on float32 inputs (asserted by :func:`oracles.as_result`).

Limits: none within the sweep.  On the confident, saturated cases of :mod:`scratch.lab.accuracy` its
float32 gradients meet scratch's accuracy goals where torch and JAX do not, for two reasons
(tests/test_peers.py pins both): autograd's tanh VJP is ``g / cosh(x)**2``, not
``1 - tanh(x)**2``; and because the max shift is differentiated (not a stop-gradient), the argmax
entry of dz2 comes out as minus the sum of the others, not as the cancelling ``yhat_a - 1``.
Its loss still rounds ``log(1 + T)`` (relative error ~1 in float32 there, ~1e-9 in float64).
"""

from __future__ import annotations

import numpy as np

from oracles import as_result, require
from scratch.checks import check_inputs
from scratch.network import Params

autograd = require("autograd", "peers", "the autograd peer")
import autograd.numpy as anp  # noqa: E402


def _loss(theta, x, y, is_labels):
    """Eqs. (1)-(7); ``theta = (W1, b1, W2, b2, e1, e2)`` with the taps e1 (N, H), e2 (N, C)."""
    W1, b1, W2, b2, e1, e2 = theta
    z1 = anp.dot(x, W1) + b1 + e1  # (1), tapped
    a1 = anp.tanh(z1)  # (2)
    z2 = anp.dot(a1, W2) + b2 + e2  # (3), tapped
    s = z2 - anp.max(z2, axis=1, keepdims=True)
    l = s - anp.log(anp.sum(anp.exp(s), axis=1, keepdims=True))  # (4)-(5), max-shifted
    if is_labels:
        PL = l[np.arange(x.shape[0]), y]  # (6)
    else:
        PL = anp.sum(l * y, axis=1)  # (6)
    return -anp.mean(PL)  # (7)


_value_and_grad = autograd.value_and_grad(_loss)


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray) -> tuple[np.generic, dict[str, np.ndarray]]:
    """Loss and gradients by ``autograd.value_and_grad``.

    Parameters
    ----------
    params : Params  (W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)), float32 or float64
    x : (N, D)
    y : (N,) int labels or (N, C) float targets

    Returns
    -------
    loss : NumPy scalar of the input dtype
    grads : dict
        ``dW1`` (D, H), ``db1`` (H,), ``dW2`` (H, C), ``db2`` (C,), ``dz1`` (N, H), ``dz2`` (N, C),
        all of the input dtype.
    """
    N, _, H, C, dtype, is_labels = check_inputs(params, x, y)
    theta = (*params, np.zeros((N, H), dtype), np.zeros((N, C), dtype))
    L, (dW1, db1, dW2, db2, dz1, dz2) = _value_and_grad(theta, x, y, is_labels)
    loss, g = as_result("autograd", dtype, L, dz2, dW2, db2, dz1, dW1, db1)
    return loss, g._asdict()
